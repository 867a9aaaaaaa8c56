/**
 * `qmpmux shell` with stdin and stdout pipes — qmp-shell's grammar and flags — in front of a real QEMU
 * behind qmpmux. Each line's reply is printed as received (QEMU's bytes), so the expected lines below
 * are what QEMU itself answers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient } from '@qmpmux/client';
import { runQmpmux, spawnQmpmux, startProxy, startQemu, STACK_LINE, type TestProxy, type TestQemu } from '@qmpmux/e2e';

const lines = (s: string) => s.split('\n').filter(Boolean);

describe('qmpmux shell from a pipe', () => {
  let qemu: TestQemu;
  let mux: TestProxy;
  let other: QmpClient;
  const dir = mkdtempSync(join(tmpdir(), 'qmpmux-pipe-'));
  const shell = (input: string, ...flags: string[]) => runQmpmux(['shell', ...flags, mux.unix], { input });

  before(async () => {
    qemu = await startQemu({ args: ['-name', 'vm-pipe'] });
    mux = await startProxy(qemu.address);
    other = await QmpClient.connect(mux.unix);
  });
  after(async () => {
    other?.close();
    await mux?.stop();
    await qemu?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('one reply per line, exactly as QEMU sends it; exit status 0 when every command succeeded', async () => {
    const r = await shell('query-name\n\n# a comment\nquery-status\n');
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(lines(r.out), ['{"return": {"name": "vm-pipe"}}', '{"return": {"status": "running", "singlestep": false, "running": true}}']);
  });

  it('exit status 1 when a command failed; every line still gets its reply', async () => {
    const r = await shell('nope\nquery-name\n');
    assert.equal(r.code, 1);
    assert.deepEqual(lines(r.out), ['{"error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}}', '{"return": {"name": "vm-pipe"}}']);
    assert.equal(r.err, '');
  });

  it("a line that does not parse: qmp-shell's message, nothing sent, exit status 1", async () => {
    const r = await shell('device_del net0\nquery-name\n');
    assert.equal(r.code, 1);
    assert.deepEqual(lines(r.out), ["Error while parsing command line: Expected a key=value pair, got 'net0'", '{"return": {"name": "vm-pipe"}}']);
  });

  it('quoted values hold spaces: human-monitor-command command-line="info version"', async () => {
    const v = (await other.execute('query-version')) as { qemu: { major: number; minor: number; micro: number }; package: string };
    const r = await shell(`human-monitor-command command-line="info version"\nhuman-monitor-command command-line='info name'\n`);
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(lines(r.out), [`{"return": "${v.qemu.major}.${v.qemu.minor}.${v.qemu.micro}${v.package}\\r\\n"}`, '{"return": "vm-pipe\\r\\n"}']);
  });

  it('-H: each line is an HMP command, the output is its text (info version shows QEMU’s version)', async () => {
    const v = (await other.execute('query-version')) as { qemu: { major: number; minor: number; micro: number }; package: string };
    const r = await shell('info version\ninfo name\n', '-H');
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(lines(r.out), [`${v.qemu.major}.${v.qemu.minor}.${v.qemu.micro}${v.package}`, 'vm-pipe']);
  });

  it('-p pretty-prints replies and events as indented JSON', async () => {
    const r = await shell('query-name\nstop\ncont\n', '-p');
    assert.equal(r.code, 0, r.err);
    assert.ok(r.out.startsWith('{\n    "return": {\n        "name": "vm-pipe"\n    }\n}\n'), r.out);
    assert.match(r.out, /\n\{\n {4}"timestamp": \{\n {8}"seconds": \d+,\n {8}"microseconds": \d+\n {4}\},\n {4}"event": "STOP"\n\}\n/);
  });

  it('-v prints each command as it is sent, before its reply', async () => {
    const r = await shell('query-command-line-options option=machine\n{"execute": "query-name", "id": "x"}\n', '-v');
    assert.equal(r.code, 0, r.err);
    const out = lines(r.out);
    assert.equal(out[0], '{"execute": "query-command-line-options", "arguments": {"option": "machine"}}');
    assert.match(out[1]!, /^\{"return": \[\{"parameters": .*"option": "machine"\}\]\}$/);
    assert.deepEqual(out.slice(2), ['{"execute": "query-name", "id": "x"}', '{"return": {"name": "vm-pipe"}, "id": "x"}']);
  });

  it('-l FILE logs the traffic: each command sent (>), each reply and event received (<)', async () => {
    const log = join(dir, 'qmp.log');
    const r = await shell('stop\ncont\n', '-l', log);
    assert.equal(r.code, 0, r.err);
    const logged = lines(readFileSync(log, 'utf8'));
    assert.equal(logged[0], '> {"execute": "stop"}');
    assert.ok(logged.some((l) => /^< \{"timestamp": .*"event": "STOP"\}$/.test(l)), logged.join('\n'));
    assert.deepEqual(logged.filter((l) => l.startsWith('> ') || l === '< {"return": {}}'), ['> {"execute": "stop"}', '< {"return": {}}', '> {"execute": "cont"}', '< {"return": {}}']);
    // What was printed was logged, in the same order.
    assert.deepEqual(lines(r.out), logged.filter((l) => l.startsWith('< ')).map((l) => l.slice(2)));
  });

  it("-N skips negotiation: the first command gets QEMU's own error, until qmp_capabilities", async () => {
    const r = await shell('query-name\nqmp_capabilities\nquery-name\n', '-N');
    assert.equal(r.code, 1, 'the first command failed');
    assert.deepEqual(lines(r.out), [
      `{"error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}}`,
      '{"return": {}}',
      '{"return": {"name": "vm-pipe"}}',
    ]);
  });

  it('dotted keys nest: cache.no-flush=true reaches QEMU as {"cache": {"no-flush": true}}', async () => {
    const r = await shell('blockdev-add driver=null-co node-name=dot0 cache.no-flush=true\nquery-named-block-nodes\nblockdev-del node-name=dot0\n', '-v');
    assert.equal(r.code, 0, r.out);
    const out = lines(r.out);
    assert.equal(out[0], '{"execute": "blockdev-add", "arguments": {"node-name": "dot0", "driver": "null-co", "cache": {"no-flush": true}}}');
    assert.equal(out[1], '{"return": {}}');
    const nodes = JSON.parse(out[3]!).return as { 'node-name': string; cache: { 'no-flush': boolean } }[];
    assert.equal(nodes.find((n) => n['node-name'] === 'dot0')!.cache['no-flush'], true, 'QEMU took the nested member');
  });

  it('an integer beyond 2^53 reaches QEMU exactly', async () => {
    const r = await shell('blockdev-add driver=null-co node-name=big0 size=9007199254741504\nquery-named-block-nodes\nblockdev-del node-name=big0\n', '-v');
    assert.equal(r.code, 0, r.out);
    const out = lines(r.out);
    assert.equal(out[0], '{"execute": "blockdev-add", "arguments": {"node-name": "big0", "driver": "null-co", "size": 9007199254741504}}');
    assert.match(out[3]!, /"virtual-size": 9007199254741504,/);
  });

  it('transaction( … ) sends one transaction command, which QEMU runs all or nothing', async () => {
    const input = [
      'blockdev-add driver=null-co node-name=tx0',
      'transaction(',
      'block-dirty-bitmap-add node=tx0 name=b0',
      'block-dirty-bitmap-add node=tx0 name=b1',
      ')',
      'transaction(',
      'block-dirty-bitmap-add node=tx0 name=b2',
      'block-dirty-bitmap-add node=nope name=b3 )',
      'block-dirty-bitmap-remove node=tx0 name=b2',
      'query-named-block-nodes',
      'blockdev-del node-name=tx0',
    ];
    const r = await shell(input.join('\n') + '\n', '-v');
    assert.equal(r.code, 1, 'the second transaction and the removal failed');
    const out = lines(r.out);
    assert.deepEqual(out.slice(0, 8), [
      '{"execute": "blockdev-add", "arguments": {"node-name": "tx0", "driver": "null-co"}}',
      '{"return": {}}',
      '{"execute": "transaction", "arguments": {"actions": [{"type": "block-dirty-bitmap-add", "data": {"name": "b0", "node": "tx0"}}, {"type": "block-dirty-bitmap-add", "data": {"name": "b1", "node": "tx0"}}]}}',
      '{"return": {}}',
      '{"execute": "transaction", "arguments": {"actions": [{"type": "block-dirty-bitmap-add", "data": {"name": "b2", "node": "tx0"}}, {"type": "block-dirty-bitmap-add", "data": {"name": "b3", "node": "nope"}}]}}',
      `{"error": {"class": "GenericError", "desc": "Cannot find device='nope' nor node-name='nope'"}}`,
      '{"execute": "block-dirty-bitmap-remove", "arguments": {"name": "b2", "node": "tx0"}}',
      `{"error": {"class": "GenericError", "desc": "Dirty bitmap 'b2' not found"}}`,
    ]);
    const nodes = JSON.parse(out[9]!).return as { 'node-name': string; 'dirty-bitmaps'?: { name: string }[] }[];
    assert.deepEqual(nodes.find((n) => n['node-name'] === 'tx0')!['dirty-bitmaps']!.map((b) => b.name).sort(), ['b0', 'b1']);
  });

  it('input that ends inside transaction( sends nothing and exits 1', async () => {
    const r = await shell('transaction(\nstop\n');
    assert.equal(r.code, 1);
    assert.equal(r.out, '');
    assert.match(r.err, /^qmpmux shell: input ended inside transaction\( … \): not sent\n$/);
    assert.equal(((await other.execute('query-status')) as { status: string }).status, 'running');
  });

  it('a raw JSON line is sent as typed, one reply per message in it; unfinished JSON is not sent', async () => {
    const r = await shell('{"execute": "query-name", "id": {"b": 1, "a": 2}}\n{"execute": "stop"}{"execute": "cont"}\n{"execute": "stop"\nquery-name\n');
    assert.equal(r.code, 1);
    const out = lines(r.out).filter((l) => !l.includes('"event"'));
    assert.deepEqual(out, [
      '{"return": {"name": "vm-pipe"}, "id": {"a": 2, "b": 1}}',
      '{"return": {}}',
      '{"return": {}}',
      'Error while parsing command line: unfinished JSON (an unclosed {, [ or string): not sent',
      '{"return": {"name": "vm-pipe"}}',
    ]);
    assert.equal(((await other.execute('query-status')) as { status: string }).status, 'running');
  });

  it('exits 1, saying so, when the connection closes (QEMU quit), though its input has not ended', async () => {
    const q = await startQemu();
    const m = await startProxy(q.address, { tcp: false });
    try {
      const p = await spawnQmpmux(['shell', m.unix], { stdin: 'pipe', killAfterMs: 30_000 });
      p.child.stdin!.write('quit\n'); // and stdin stays open
      assert.equal(await p.exited, 1);
      assert.deepEqual(lines(p.out()).map((l) => l.replace(/"seconds": \d+, "microseconds": \d+/, 'T')), ['{"timestamp": {T}, "event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}}', '{"return": {}}']);
      assert.equal(p.log(), `qmpmux shell: connection to ${m.unix} closed\n`);
    } finally {
      await m.stop();
      await q.stop();
    }
  });

  it('a reader that goes away (| head -1) ends the shell quietly, with the status of SIGPIPE', async () => {
    const p = await spawnQmpmux(['shell', mux.unix], { stdin: 'pipe', killAfterMs: 30_000 });
    const { stdin, stdout } = p.child;
    stdin!.write('query-name\n'.repeat(200));
    await new Promise((r) => stdout!.once('data', r));
    stdout!.destroy();
    stdin!.write('query-name\n'.repeat(200));
    stdin!.end();
    assert.equal(await p.exited, 141);
    assert.doesNotMatch(p.log(), STACK_LINE);
    assert.equal(p.log(), '');
  });

  it('cannot connect: one line, exit 1', async () => {
    const r = await runQmpmux(['shell', `unix:${join(dir, 'nobody-here.sock')}`]);
    assert.equal(r.code, 1);
    assert.match(r.err, /^qmpmux shell: cannot connect to unix:\S+nobody-here\.sock: .*ENOENT.*\n$/);
  });
});
