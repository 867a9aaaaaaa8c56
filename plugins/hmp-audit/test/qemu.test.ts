/** The plugin in an in-process qmpmux in front of a real QEMU (`-M none`): records, rules, redaction, a full disk. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { QmpClient, QmpError } from '@qmpmux/client';
import type { PluginDefinition, PluginSpec } from '@qmpmux/core';
import { startProxy, useQemu, useTempDir, type TestProxy } from '@qmpmux/e2e';
import { verifyFiles, type AuditRecord } from '@qmpmux/audit-log';
import { hmpAuditPlugin } from '../src/index.ts';
import { countingObserver, records } from './helpers.ts';

const tmp = useTempDir('hmp-audit-');
const qemu = useQemu();

let n = 0;
const logPath = () => join(tmp, `${n++}`, 'audit.log');
const audit = (options: Record<string, unknown>): PluginSpec => ({ definition: hmpAuditPlugin, options });
const hmp = (c: QmpClient, line: string) => c.execute<string>('human-monitor-command', { 'command-line': line });

/** Names clients by transport, as a policy plugin would: tcp -> alice, unix -> ops. */
const whoPlugin: PluginDefinition<unknown> = {
  name: 'who',
  validate: (o) => o,
  create: () => ({
    name: 'who',
    async onClientConnect(c) {
      c.principal = c.peer.transport === 'tcp' ? 'alice' : 'ops';
    },
  }),
};

function byType(recs: AuditRecord[], type: string): AuditRecord[] {
  return recs.filter((r) => r.type === type);
}

describe('recording HMP commands', () => {
  let mux: TestProxy;
  let path: string;
  const metrics = countingObserver();
  before(async () => {
    path = logPath();
    mux = await startProxy(qemu.address, { plugins: [audit({ path, fsync: 'always' })], observer: metrics.observer });
  });
  after(() => mux?.stop());

  it('records who ran what, the parsed name (aliases, info sub-commands), QEMU’s outcome and the duration', async () => {
    const c = await QmpClient.connect(mux.unix);
    const lines = ['info status', '   info \t version', 'foo', 'info foo', 'p/x 255', 'c x', 'device_add nonexist', '?  stop'];
    const replies: string[] = [];
    for (const l of lines) replies.push(await hmp(c, l));
    await assert.rejects(c.execute('human-monitor-command', { 'command-line': 'info status', 'cpu-index': 7 }), (e: QmpError) => /cpu-index/.test(e.desc));
    c.close();
    assert.equal(replies[0], 'VM status: running\r\n');
    assert.equal(replies[2], "unknown command: 'foo'\r\n");
    assert.equal(replies[4], '0xff\r\n');

    const recs = records(path);
    const cmds = byType(recs, 'command');
    const reps = byType(recs, 'reply');
    assert.deepEqual(
      cmds.map((r) => (r.hmp as { name: string }).name),
      ['info status', 'info version', 'foo', 'info foo', 'print', 'cont', 'device_add', 'help', 'info status'],
    );
    assert.deepEqual(
      cmds.map((r) => (r.hmp as { line: string }).line),
      [...lines, 'info status'],
    );
    assert.equal((cmds[5]!.hmp as { alias?: string }).alias, 'c');
    assert.equal((cmds[8]!.hmp as { cpuIndex?: number }).cpuIndex, 7);
    for (const r of cmds) {
      assert.deepEqual(r.conn, { transport: 'unix', address: mux.unix.slice(5), pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
      assert.equal(r.principal, undefined);
      assert.equal((r.decision as { allowed: boolean }).allowed, true);
    }
    assert.deepEqual((cmds[6]!.decision as { rule: string }).rule, 'default:operator', 'device_add: destructive, but no policy plugin: operator');
    // Each reply record points at its command, carries the outcome, classified.
    assert.deepEqual(
      reps.map((r) => [r.ref, (r.outcome as { status: string; failure?: string }).status, (r.outcome as { failure?: string }).failure]),
      cmds.map((c, i) => [c.seq, ...([['ok'], ['ok'], ['failed', 'unknown-command'], ['failed', 'unknown-command'], ['ok'], ['failed', 'usage'], ['failed', 'error'], ['ok'], ['error']][i]!)]).map((x) => (x.length === 2 ? [...x, undefined] : x)),
    );
    assert.equal((reps[0]!.outcome as { text: string }).text, 'VM status: running\r\n');
    assert.match((reps[8]!.outcome as { error: { desc: string } }).error.desc, /cpu-index/);
    for (const r of reps) assert.ok(typeof r.durationMs === 'number' && r.durationMs > 0 && r.durationMs < 10_000);
    assert.equal(verifyFiles([path]).ok, true);
  });

  it('counts its records for metrics, by type, as the log holds them', async () => {
    const recs = records(path);
    for (const type of ['start', 'command', 'reply']) {
      assert.equal(metrics.counts[`qmpmux_audit_records_total{type=${type}}`], byType(recs, type).length, type);
    }
    assert.ok(byType(recs, 'command').length > 0);
    assert.equal(Object.keys(metrics.counts).filter((k) => k.startsWith('qmpmux_audit_write_failures_total')).length, 0, 'no failures');
  });

  it('leaves other QMP commands unrecorded by default', async () => {
    const c = await QmpClient.connect(mux.unix);
    const before = records(path).length;
    await c.execute('query-status');
    await c.execute('query-version');
    c.close();
    assert.equal(records(path).length, before);
  });
});

describe('rules', () => {
  let mux: TestProxy;
  let path: string;
  before(async () => {
    path = logPath();
    mux = await startProxy(qemu.address, {
      plugins: [
        { definition: whoPlugin },
        audit({ path, fsync: 'batch', operators: ['ops'], rules: [{ name: 'no-pause-for-alice', action: 'deny', commands: ['stop'], principals: ['alice'] }] }),
      ],
    });
  });
  after(() => mux?.stop());

  it('a denied command never reaches QEMU: a GenericError names the rule, the VM keeps running, no STOP event', async () => {
    const alice = await QmpClient.connect(mux.tcp);
    const events: string[] = [];
    alice.events$.subscribe((e) => events.push(e.event));
    for (const line of ['stop', '  s ', 's extra']) {
      await assert.rejects(hmp(alice, line), (e: QmpError) => e.cls === 'GenericError' && e.desc === "qmpmux: HMP command 'stop' refused by audit rule 'no-pause-for-alice' for principal 'alice'");
    }
    // QEMU emits STOP before replying to a stop: had one run, query-status and the event would show it.
    assert.deepEqual(await alice.execute('query-status'), { status: 'running', singlestep: false, running: true });
    await assert.rejects(hmp(alice, 'q'), (e: QmpError) => /refused by audit rule 'default:destructive'/.test(e.desc));
    await assert.rejects(hmp(alice, 'device_add virtio-rng-pci'), (e: QmpError) => /default:destructive/.test(e.desc));
    assert.equal(await hmp(alice, 'info status'), 'VM status: running\r\n');
    assert.deepEqual(events, []);
    // An operator may: the same command runs.
    const ops = await QmpClient.connect(mux.unix);
    const opsEvents: string[] = [];
    ops.events$.subscribe((e) => opsEvents.push(e.event));
    assert.equal(await hmp(ops, 's'), '');
    assert.equal(await hmp(ops, 'c'), '');
    assert.deepEqual(opsEvents, ['STOP', 'RESUME']);
    alice.close();
    ops.close();

    const cmds = byType(records(path), 'command');
    const refused = cmds.filter((r) => !(r.decision as { allowed: boolean }).allowed);
    assert.deepEqual(
      refused.map((r) => [r.principal, (r.hmp as { name: string }).name, (r.decision as { rule: string }).rule]),
      [
        ['alice', 'stop', 'no-pause-for-alice'],
        ['alice', 'stop', 'no-pause-for-alice'],
        ['alice', 'stop', 'no-pause-for-alice'],
        ['alice', 'quit', 'default:destructive'],
        ['alice', 'device_add', 'default:destructive'],
      ],
    );
    const refusedSeqs = new Set(refused.map((r) => r.seq));
    assert.ok(byType(records(path), 'reply').every((r) => !refusedSeqs.has(r.ref as number)), 'a refused command has no reply from QEMU');
  });
});

describe('reload (SIGHUP)', () => {
  let mux: TestProxy;
  let path: string;
  const rules = (deny: string[]) => [{ name: 'no-pause-for-alice', action: 'deny', commands: deny, principals: ['alice'] }];
  before(async () => {
    path = logPath();
    mux = await startProxy(qemu.address, { plugins: [{ definition: whoPlugin }, audit({ path, fsync: 'batch', rules: rules(['stop']) })] });
  });
  after(() => mux?.stop());

  it('new rules apply to connected clients at once; options of the open log cannot change and change nothing', async () => {
    const alice = await QmpClient.connect(mux.tcp);
    await assert.rejects(hmp(alice, 'stop'), (e: QmpError) => /no-pause-for-alice/.test(e.desc));
    await mux.proxy.reload([{ definition: whoPlugin }, audit({ path, fsync: 'batch', rules: rules(['info status']) })]);
    assert.equal(await hmp(alice, 'stop'), '', 'stop is allowed now');
    assert.equal(await hmp(alice, 'cont'), '');
    await assert.rejects(hmp(alice, 'info status'), (e: QmpError) => /refused by audit rule 'no-pause-for-alice'/.test(e.desc));
    await assert.rejects(
      mux.proxy.reload([{ definition: whoPlugin }, audit({ path: logPath(), fsync: 'batch', rules: rules(['stop']) })]),
      /cannot change path while the log is open; restart qmpmux/,
    );
    await assert.rejects(hmp(alice, 'info status'), (e: QmpError) => /no-pause-for-alice/.test(e.desc));
    assert.equal(await hmp(alice, 'stop'), '', 'the refused reload changed nothing');
    await hmp(alice, 'cont');
    alice.close();
  });
});

describe('auditAllQmp and redaction', () => {
  let mux: TestProxy;
  let path: string;
  before(async () => {
    path = logPath();
    mux = await startProxy(qemu.address, { plugins: [audit({ path, auditAllQmp: true, fsync: 'always', redact: [{ command: 'qom-set', paths: ['$.value'] }] })] });
  });
  after(() => mux?.stop());

  it('records every QMP command and keeps secrets out of the log', async () => {
    const c = await QmpClient.connect(mux.unix);
    await c.execute('object-add', { 'qom-type': 'secret', id: 'sec0', data: 'hunter2-qmp' });
    assert.equal(await hmp(c, 'object_add secret,id=sec1,data=hunter2-hmp'), '');
    await assert.rejects(c.execute('change-vnc-password', { password: 'hunter2-vnc' }));
    await hmp(c, 'set_password vnc hunter2-setpw');
    await c.execute('qom-set', { path: '/objects/sec0', property: 'data', value: 'hunter2-qom' }); // QEMU 7.2 takes it
    await c.execute('query-status');
    c.close();
    const raw = readFileSync(path, 'utf8');
    assert.doesNotMatch(raw, /hunter2/);
    const cmds = byType(records(path), 'command');
    assert.deepEqual(
      cmds.map((r) => r.qmp),
      ['object-add', 'human-monitor-command', 'change-vnc-password', 'human-monitor-command', 'qom-set', 'query-status'],
    );
    assert.deepEqual(cmds[0]!.arguments, { 'qom-type': 'secret', id: 'sec0', data: '<redacted>' });
    assert.equal((cmds[1]!.hmp as { line: string }).line, 'object_add secret,id=sec1,data=<redacted>');
    assert.equal((cmds[3]!.hmp as { line: string }).line, 'set_password vnc <redacted>');
    assert.deepEqual(cmds.map((r) => r.redacted === true), [true, true, true, true, true, false]);
    const reps = byType(records(path), 'reply');
    assert.deepEqual(reps.map((r) => (r.outcome as { status: string }).status), ['ok', 'ok', 'error', 'failed', 'ok', 'ok']);
  });
});

describe('a full disk with failClosed', () => {
  const mnt = join(tmp, 'tiny');
  let mounted = false;
  let mux: TestProxy | undefined;
  before(() => {
    mkdirSync(mnt, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt], { stdio: 'ignore' });
      mounted = true;
    } catch {
      /* not root or no mount: skipped below */
    }
  });
  after(async () => {
    await mux?.stop();
    if (mounted) execFileSync('umount', [mnt]);
  });

  it('refuses audited commands with a clear error, keeps the others working, and recovers with a gap record', async (t) => {
    if (!mounted) return t.skip('cannot mount a tmpfs here (needs root)');
    const path = join(mnt, 'log', 'audit.log');
    const metrics = countingObserver();
    mux = await startProxy(qemu.address, { plugins: [audit({ path, fsync: 'batch', failClosed: true })], observer: metrics.observer });
    const c = await QmpClient.connect(mux.unix);
    assert.equal(await hmp(c, 'info status'), 'VM status: running\r\n');
    // Fill the file system to the last byte.
    const filler = join(mnt, 'filler');
    const fd = openSync(filler, 'w');
    try {
      const block = Buffer.alloc(4096, 0x61);
      for (;;) writeSync(fd, block);
    } catch (e) {
      assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
    }
    try {
      for (;;) writeSync(fd, Buffer.from('a'));
    } catch {
      /* full */
    }
    closeSync(fd);
    const events: string[] = [];
    c.events$.subscribe((e) => events.push(e.event));
    const refusal = /^qmpmux: the audit log cannot be written \(ENOSPC\): 'human-monitor-command' refused \(hmp-audit is fail-closed\)$/;
    // The log's last page may still hold a few records; then every audited command is refused.
    let ran = 0;
    for (;;) {
      try {
        assert.equal(await hmp(c, 'info status'), 'VM status: running\r\n');
        ran++;
        assert.ok(ran < 200, 'the log keeps being written on a full file system');
      } catch (e) {
        assert.ok(e instanceof QmpError && e.cls === 'GenericError' && refusal.test(e.desc), String(e));
        break;
      }
    }
    await assert.rejects(hmp(c, 'stop'), (e: QmpError) => refusal.test(e.desc));
    // Not audited: still works, and shows the refused `stop` never ran.
    assert.deepEqual(await c.execute('query-status'), { status: 'running', singlestep: false, running: true });
    assert.deepEqual(events, []);
    rmSync(filler);
    assert.equal(await hmp(c, 'info status'), 'VM status: running\r\n');
    c.close();
    await mux.stop();
    mux = undefined;
    const v = verifyFiles([path]);
    assert.equal(v.ok, true, JSON.stringify(v.broken));
    assert.equal(v.torn, undefined);
    const recs = records(path);
    const gap = recs.find((r) => r.type === 'gap');
    assert.ok(gap, 'a gap record');
    assert.match(String(gap.error), /ENOSPC/);
    // Refused: the command record of `info status` and of `stop` (a reply record that fails counts too).
    assert.ok((gap.failed as number) >= 2, `failed ${gap.failed}`);
    const cmds = byType(recs, 'command').map((r) => (r.hmp as { line: string }).line);
    assert.deepEqual(cmds, Array(ran + 2).fill('info status'), 'the refused commands were never recorded as run');
    assert.equal(byType(recs, 'reply').length, byType(recs, 'command').length - (gap.failed as number) + 2);
    // Metrics: every failed write counted; every record the plugin wrote counted by its type.
    assert.equal(metrics.counts['qmpmux_audit_write_failures_total{stage=write}'], gap.failed);
    for (const type of ['start', 'command', 'reply', 'stop']) assert.equal(metrics.counts[`qmpmux_audit_records_total{type=${type}}`], byType(recs, type).length, type);
  });
});
