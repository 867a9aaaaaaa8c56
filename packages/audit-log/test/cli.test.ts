/** `qmpmux audit verify|show|convert` through auditCommand (the function the CLI's `case 'audit'` calls). */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { auditCommand, listSegments } from '../src/index.ts';
import { openWriter, records, tempDir } from './helpers.ts';

const tmp = tempDir();
after(() => tmp.rm());

async function audit(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await auditCommand(argv, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out, err };
}

/** A small log of two principals' HMP commands, with known times. */
async function sampleLog(name: string, opts: { key?: Buffer; rotateBytes?: number } = {}): Promise<string> {
  const path = join(tmp.dir, name, 'audit.log');
  const w = openWriter(path, { key: opts.key, rotateBytes: opts.rotateBytes ?? 0 });
  const cmd = (principal: string | undefined, line: string, name: string, time: string) => {
    const rec: Record<string, unknown> = { time, client: 1, conn: { transport: 'unix', address: '/s', pid: 1, uid: 0, gid: 0 }, qmp: 'human-monitor-command', hmp: { line, name }, decision: { allowed: true, rule: 'default:allow' } };
    if (principal) rec.principal = principal;
    const { seq } = w.append('command', rec);
    const reply: Record<string, unknown> = { time, ref: seq, client: 1, qmp: 'human-monitor-command', hmp: { name }, source: 'qemu', outcome: { status: 'ok', text: '' }, durationMs: 0.5 };
    if (principal) reply.principal = principal;
    w.append('reply', reply);
  };
  cmd('alice', 'info status', 'info status', '2025-01-01T10:00:00.000Z');
  cmd('bob', 'c', 'cont', '2025-01-01T11:00:00.000Z');
  cmd('alice', 's', 'stop', '2025-01-01T12:00:00.000Z');
  cmd(undefined, 'info version', 'info version', '2025-01-01T13:00:00.000Z');
  await w.close();
  return path;
}

describe('qmpmux audit verify', () => {
  it('says ok with the head hash, and names the first broken record after one flipped byte', async () => {
    const path = await sampleLog('v');
    const ok = await audit('verify', path);
    assert.equal(ok.code, 0);
    assert.match(ok.out[0]!, /^ok: 9 record\(s\), seq 1\.\.9 in 1 file\(s\), chain sha256, head [0-9a-f]{64}$/);
    const b = readFileSync(path);
    const lines = b.toString('utf8').split('\n');
    const at = lines.slice(0, 4).join('\n').length + 1 + lines[4]!.indexOf('cont'); // line 5: the `c` command's record
    b[at] = b[at]! ^ 0x01;
    writeFileSync(path, b);
    const bad = await audit('verify', path);
    assert.equal(bad.code, 1);
    assert.match(bad.out[0]!, new RegExp(`^BROKEN: ${path.replace(/[.]/g, '\\.')}: record seq 5 at byte \\d+ \\(line 5\\): hash mismatch`));
    assert.equal(bad.out[1], '4 record(s) before it verified (seq 1..4)');
  });

  it('checks a keyed chain with --key-file / --key-env, and refuses without the key', async () => {
    const key = Buffer.from('a secret of more than sixteen bytes');
    const path = await sampleLog('k', { key });
    const keyFile = join(tmp.dir, 'key');
    writeFileSync(keyFile, key.toString() + '\n');
    assert.equal((await audit('verify', '--key-file', keyFile, path)).code, 0);
    process.env.QMPMUX_TEST_AUDIT_KEY = key.toString();
    assert.equal((await audit('verify', '--key-env', 'QMPMUX_TEST_AUDIT_KEY', path)).code, 0);
    const without = await audit('verify', path);
    assert.equal(without.code, 1);
    assert.match(without.out[0]!, /keyed.*--key-file/);
  });

  it('orders rotated files by their chain, whatever order the shell gives', async () => {
    const path = await sampleLog('r', { rotateBytes: 700 });
    const files = [path, ...listSegments(path).map((s) => s.file)];
    assert.ok(files.length >= 3);
    const r = await audit('verify', ...files);
    assert.equal(r.code, 0, r.out.join('\n'));
    assert.match(r.out[0]!, new RegExp(`in ${files.length} file\\(s\\)`));
  });

  it('usage errors: one line naming the problem, exit 2', async () => {
    for (const [args, says] of [
      [['verify'], 'verify needs at least one FILE'],
      [['frobnicate'], "unknown audit command 'frobnicate' (verify, show or convert)"],
      [[], 'missing the audit command: verify, show or convert'],
    ] as const) {
      const r = await audit(...args);
      assert.equal(r.code, 2);
      assert.deepEqual(r.err, [`qmpmux audit: ${says} (qmpmux audit --help)`]);
    }
    const bogus = await audit('show', '--bogus', 'x');
    assert.equal(bogus.code, 2);
    assert.equal(bogus.err.length, 1);
    assert.equal(bogus.err[0]!.split('\n').length, 1);
  });

  it('--help, -h and help: the usage, exit 0', async () => {
    for (const h of ['--help', '-h', 'help']) {
      const r = await audit(h);
      assert.equal(r.code, 0);
      assert.match(r.out.join('\n'), /^usage: qmpmux audit verify/);
    }
  });
});

describe('qmpmux audit show', () => {
  it('filters by principal, command (aliases resolved), and time', async () => {
    const path = await sampleLog('s');
    const alice = await audit('show', '--principal', 'alice', path);
    assert.equal(alice.code, 0);
    assert.equal(alice.out.length, 4);
    assert.ok(alice.out.every((l) => / alice /.test(l)));
    assert.match(alice.out[0]!, /^2025-01-01T10:00:00\.000Z #2 command client 1 alice unix:\/s\[pid 1 uid 0\] hmp "info status" \(info status\) allowed by default:allow$/);
    assert.match(alice.out[1]!, /^2025-01-01T10:00:00\.000Z #3 reply to #2 client 1 alice hmp \(info status\) ok 0\.5ms ""$/);
    const cont = await audit('show', '--command', 'c', '--json', path);
    assert.deepEqual(cont.out.map((l) => JSON.parse(l).seq), [4, 5]);
    const info = await audit('show', '--command', 'info *', path);
    assert.equal(info.out.length, 4);
    const nobody = await audit('show', '--principal=', path);
    assert.equal(nobody.out.length, 2);
    const window = await audit('show', '--since', '2025-01-01T10:30:00Z', '--until', '2025-01-01T12:00:00Z', '--command', 'human-monitor-command', path);
    assert.deepEqual(window.out.map((l) => l.split(' ')[1]), ['#4', '#5', '#6', '#7']);
  });

  it('--follow prints records as they are written, across a rotation', async () => {
    const path = await sampleLog('f');
    const out: string[] = [];
    const ac = new AbortController();
    const done = auditCommand(['show', '--follow', '--json', '--command', 'print', path], { out: (s) => out.push(s), err: () => {}, signal: ac.signal });
    const w = openWriter(path, { rotateBytes: 1500 });
    for (let i = 0; i < 12; i++) {
      w.append('command', { qmp: 'human-monitor-command', hmp: { line: `p ${i}`, name: 'print' } });
      await sleep(i % 4 === 0 ? 60 : 0);
    }
    assert.ok(listSegments(path).length >= 1, 'rotated while following');
    const deadline = Date.now() + 5000;
    while (out.length < 12 && Date.now() < deadline) await sleep(20);
    ac.abort();
    assert.equal(await done, 0);
    await w.close();
    assert.deepEqual(
      out.map((l) => JSON.parse(l).hmp.line),
      Array.from({ length: 12 }, (_, i) => `p ${i}`),
    );
  });
});

describe('qmpmux audit convert', () => {
  it('round-trips json -> msgpack -> json; both verify', async () => {
    const path = await sampleLog('c');
    const mp = join(tmp.dir, 'c.mp');
    const back = join(tmp.dir, 'c.json');
    const r1 = await audit('convert', '--to', 'msgpack', path, mp);
    assert.equal(r1.code, 0);
    assert.equal(r1.out[0], `9 record(s) converted from json to msgpack: ${mp}`);
    assert.equal((await audit('verify', mp)).code, 0);
    assert.equal((await audit('convert', '--to', 'json', mp, back)).code, 0);
    assert.deepEqual(records(back), records(path));
    assert.equal((await audit('convert', '--to', 'json', mp, back)).code, 1, 'never overwrites');
    assert.equal((await audit('convert', '--to', 'yaml', mp, back)).code, 2);
  });
});
