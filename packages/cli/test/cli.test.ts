/** The qmpmux command, run as a real process in front of a real QEMU. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClient } from '@qmpmux/client';
import { processesWith, runQmpmux, spawnQmpmux, until, type QmpmuxProcess } from '@qmpmux/e2e';
import { parseShellLine } from '../src/shell.ts';

const run = (args: string[], input?: string) => runQmpmux(args, { input });

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('qmpmux serve (managed QEMU) and qmpmux shell', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qmpmux-cli-'));
  const sock = join(dir, 'mux.sock');
  let serve: QmpmuxProcess | undefined;
  after(() => {
    serve?.child.kill('SIGKILL'); // the managed QEMU's watchdog stops it too
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts its own QEMU, serves clients on unix and TCP, and shuts down cleanly on SIGTERM', async () => {
    serve = await spawnQmpmux(['serve', '--listen', `unix:${sock}`, '--listen', 'tcp:127.0.0.1:0', '--plugin', 'clients'], { ready: (log) => /managed QEMU under watchdog pid (\d+)/.test(log) && /listening on tcp:127\.0\.0\.1:(\d+)/.test(log) });
    const log = serve.log();
    const qemuPid = Number(/managed QEMU under watchdog pid (\d+)/.exec(log)![1]);
    const port = /listening on tcp:127\.0\.0\.1:(\d+)/.exec(log)![1];
    const a = await QmpClient.connect(`unix:${sock}`);
    const b = await QmpClient.connect(`tcp:127.0.0.1:${port}`);
    assert.equal(((await a.execute('query-status')) as { status: string }).status, 'running');
    const clients = (await b.execute('__org.qmpmux_query-clients')) as { transport: string; pid?: number }[];
    assert.deepEqual(clients.map((c) => c.transport).sort(), ['tcp', 'unix']);
    assert.equal(clients.find((c) => c.transport === 'unix')!.pid, process.pid);
    assert.ok(alive(qemuPid));
    serve.child.kill('SIGTERM');
    assert.equal(await serve.exited, 0);
    await until(() => a.closed && b.closed, 'clients closed', 5000);
    assert.equal(existsSync(sock), false, 'socket file removed');
    await until(() => !alive(qemuPid), 'managed QEMU stopped', 5000);
  });

  it('shell: reads commands from stdin, prints replies and events', async () => {
    serve = await spawnQmpmux(['serve', '--listen', `unix:${sock}`], { ready: /managed QEMU under watchdog pid/ });
    const r = await run(['shell', `unix:${sock}`], 'query-status\nstop\n{"execute":"cont","id":7}\nquery-command-line-options option=machine\nnope\n');
    assert.equal(r.code, 1, 'exit 1: one command (nope) failed; ' + r.err);
    const lines = r.out.trim().split('\n');
    assert.equal(lines[0], '{"return": {"status": "running", "singlestep": false, "running": true}}');
    assert.ok(lines.some((l) => /"event": "STOP"/.test(l)));
    assert.ok(lines.includes('{"return": {}, "id": 7}'), r.out);
    assert.ok(lines.some((l) => l.startsWith('{"return": [{"parameters": [') && l.includes('"option": "machine"')));
    assert.equal(lines[lines.length - 1], '{"error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}}');
    await serve.stop('SIGTERM');
  });

  it('exits after SIGTERM even when a peer keeps its side of the connection open', async () => {
    serve = await spawnQmpmux(['serve', '--listen', `unix:${sock}`, '--listen', 'tcp:127.0.0.1:0'], { ready: (log) => /listening on tcp:127\.0\.0\.1:(\d+)/.test(log) && /managed QEMU/.test(log) });
    const port = Number(/listening on tcp:127\.0\.0\.1:(\d+)/.exec(serve.log())![1]);
    const { connect } = await import('node:net');
    const stubborn = connect({ port, host: '127.0.0.1', allowHalfOpen: true }); // never ends its side
    stubborn.on('error', () => {});
    await new Promise((r) => stubborn.once('data', r)); // the greeting
    const t0 = Date.now();
    serve.child.kill('SIGTERM');
    assert.equal(await Promise.race([serve.exited, sleep(10_000).then(() => 'still running after 10 s')]), 0);
    assert.ok(Date.now() - t0 < 8000, `exited after ${Date.now() - t0} ms`);
    stubborn.destroy();
  });

  it('a failure while starting (the --http port is taken): one line, exit 1, and its QEMU stopped', async () => {
    const { createServer } = await import('node:net');
    const holder = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => holder.once('listening', r));
    const port = (holder.address() as { port: number }).port;
    try {
      const r = await run(['serve', '--listen', `unix:${sock}`, '--http', `127.0.0.1:${port}`]);
      assert.equal(r.code, 1);
      assert.match(r.err, new RegExp(`\nqmpmux serve: listen EADDRINUSE: address already in use 127\\.0\\.0\\.1:${port}\n$`));
      const qmp = /-qmp (unix:\S+),server/.exec(r.err)![1]!;
      assert.deepEqual(processesWith(qmp), [], 'no QEMU left behind');
      assert.equal(existsSync(sock), false, 'socket file removed');
    } finally {
      holder.close();
    }
  });

  it('a bad config file is refused at start-up, naming the field', async () => {
    const cfg = join(dir, 'bad.json');
    writeFileSync(cfg, JSON.stringify({ listen: ['unix:/tmp/x.sock'], limits: { maxClients: -1 } }));
    const r = await run(['serve', '--config', cfg]);
    assert.equal(r.code, 2);
    assert.match(r.err, /config\.limits\.maxClients: expected an integer/);
    writeFileSync(cfg, JSON.stringify({ plugins: [{ name: 'nosuch' }] }));
    const r2 = await run(['serve', '--config', cfg]);
    assert.equal(r2.code, 2);
    assert.match(r2.err, /config\.plugins\[0\]\.name: unknown plugin 'nosuch'/);
  });
});

describe('shell line parsing', () => {
  it('reads commands, key=value arguments (JSON values, dotted keys) and raw JSON', () => {
    assert.deepEqual(parseShellLine('query-status'), { command: 'query-status' });
    assert.deepEqual(parseShellLine('  '), undefined);
    assert.deepEqual(parseShellLine('device_del id=net0'), { command: 'device_del', args: { id: 'net0' } });
    assert.deepEqual(parseShellLine('x a=1 b=true c=[1] d.e=f'), { command: 'x', args: { a: 1, b: true, c: [1], d: { e: 'f' } } });
    assert.deepEqual(parseShellLine('{"execute":"stop"}'), { raw: '{"execute":"stop"}' });
    assert.throws(() => parseShellLine('x novalue'), /Expected a key=value pair, got 'novalue'/);
  });
  it("values as qmp-shell's: int() integers of any size, true/false, JSON for { and [, else strings", async () => {
    const { parseValue } = await import('../src/grammar.ts');
    assert.equal(parseValue('01'), 1);
    assert.equal(parseValue('+7'), 7);
    assert.equal(parseValue('1_000'), 1000);
    assert.equal(parseValue('18446744073709551615'), 18446744073709551615n, 'exact, as a bigint');
    assert.equal(parseValue('TRUE'), true);
    for (const s of ['1.5', '1e3', 'null', '0x10', '{bad', '[1]x', 'abc', '']) assert.equal(parseValue(s), s);
    assert.deepEqual(parseValue("{'a':'b'}"), { a: 'b' }, "QEMU's JSON: single quotes too");
    assert.equal(parseValue('"5"'), '5', 'quoted: a string as it is');
  });
  it("qmp-shell's grammar: quoted values with spaces, duplicate keys, transaction blocks", async () => {
    const { ShellParser } = await import('../src/grammar.ts');
    assert.deepEqual(parseShellLine('human-monitor-command command-line="info version"'), { command: 'human-monitor-command', args: { 'command-line': 'info version' } });
    assert.deepEqual(parseShellLine("x a='it is' b=\"q\\\"x\" c=\"1\""), { command: 'x', args: { a: 'it is', b: 'q"x', c: '1' } });
    assert.throws(() => parseShellLine('x a=1 a=2'), /Cannot set "a" multiple times/);
    assert.throws(() => parseShellLine('x a=1 a.b=2'), /Cannot use "a" as both leaf and non-leaf key/);
    const p = new ShellParser();
    assert.equal(p.parse('transaction('), undefined);
    assert.equal(p.inTransaction, true);
    assert.equal(p.parse('block-dirty-bitmap-add node=n0 name=b0'), undefined);
    assert.deepEqual(p.parse('abort )'), { command: 'transaction', args: { actions: [{ type: 'block-dirty-bitmap-add', data: { node: 'n0', name: 'b0' } }, { type: 'abort', data: {} }] } });
    assert.equal(p.inTransaction, false);
    p.parse('transaction(');
    assert.throws(() => p.parse(') x'), /Unexpected input after close of Transaction sub-shell/);
  });
});

describe('the README', () => {
  it("its example config file is valid: every field and every plugin's options", async () => {
    const { readFileSync } = await import('node:fs');
    const { parseConfig, resolvePlugins } = await import('@qmpmux/core');
    const { AVAILABLE_PLUGINS } = await import('../src/plugins.ts');
    const readme = readFileSync(resolve(fileURLToPath(import.meta.url), '../../../../README.md'), 'utf8');
    const block = /The config file[\s\S]*?```json\n([\s\S]*?)```/.exec(readme);
    assert.ok(block, 'the README has the example');
    const cfg = parseConfig(JSON.parse(block[1]!));
    const specs = resolvePlugins(cfg, AVAILABLE_PLUGINS);
    assert.deepEqual(specs.map((s) => s.definition.name), ['policy', 'fdsets', 'hmp-audit', 'event-replay', 'clients']);
    specs.forEach((s, i) => s.definition.validate(s.options ?? {}, `plugins[${i}].options`));
  });
});
