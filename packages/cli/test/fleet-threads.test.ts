/**
 * `"threads": N` in the fleet form (serve-threads.ts): every VM runs whole in one of N worker threads,
 * against real QEMUs — each VM's listener reaches its own QEMU; VMs are spread over the threads (the
 * one with the fewest VMs, and the same one for as long as the VM runs); SIGHUP applies the
 * difference across threads (a client of an unchanged VM stays connected and works; an invalid file
 * changes nothing); the control socket lists, adds and removes VMs across threads; /metrics merges
 * every thread's series and /readyz covers every thread; one QEMU
 * killed leaves the other VMs' clients working (and /readyz names it); SIGTERM stops everything,
 * unlinking every socket; what threads do not support yet is refused, naming the field.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClient, QmpError } from '@qmpmux/client';
import { useFleetFixture } from './fleet-fixture.ts';
import { closeFd, pipe } from '@qmpmux/unixfd';
import { RawClient, assertReaches, fdPassingCycles, httpAddressOf, openFdCount, reloadServe, runQmpmux, spawnQmpmux, startQemu, until, type QmpmuxProcess, type TestQemu } from '@qmpmux/e2e';

/** A process's open fds once the count has not moved for 300 ms. */
async function steadyFdCount(pid: number): Promise<number> {
  let last = openFdCount(pid);
  for (let same = 0; same < 3; ) {
    await sleep(100);
    const now = openFdCount(pid);
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

describe('qmpmux serve with "threads" (VMs in worker threads)', () => {
  const fx = useFleetFixture('qmpmux-fleet-threads-', { threads: 2 });
  const { file, sock, control, qemus, q, entry, write } = fx;
  let serve: QmpmuxProcess;
  let http = '';
  /** The thread each VM was started in, from the log (`[qmpmux:threadN] VM 'x' started`). */
  const threadOf = () => new Map([...serve.log().matchAll(/\[qmpmux:thread(\d+)\] VM '([^']+)' started/g)].map((m) => [m[2]!, Number(m[1])]));
  const hup = () => reloadServe(serve);

  before(async () => {
    await fx.startQemus(5);
    write([entry('vm1', 1), entry('vm2', 2), entry('vm3', 3)]);
    serve = await fx.serve(/\[qmpmux\] fleet: 3 VM\(s\) in 2 threads/);
    // The threads' log lines reach the process's stderr through the main thread, a moment later.
    await until(() => threadOf().size === 3, "every thread's start lines", 10_000);
    http = httpAddressOf(serve);
  });
  it('serves each VM on its own listener, in front of its own QEMU, the VMs spread over both threads', async () => {
    for (const n of ['vm1', 'vm2', 'vm3']) {
      await assertReaches(`unix:${sock(n)}`, n);
    }
    // Each VM goes to the thread with the fewest (the first of equals): vm1 → 0, vm2 → 1, vm3 → 0.
    assert.deepEqual(Object.fromEntries(threadOf()), { vm1: 0, vm2: 1, vm3: 0 });
  });

  it("fd passing (SCM_RIGHTS) reaches the QEMU of a VM in a worker thread; no fd stays behind in qmpmux or QEMU", async () => {
    const vm2 = qemus[1]!; // vm2 runs in thread 1
    // Counted once they stay put (the connections of the test before close on qmpmux's side a moment later).
    const fds = async () => ({ mux: await steadyFdCount(serve.pid), qemu: openFdCount(vm2.pid) });
    const before = await fds();
    const c = await QmpClient.connect(`unix:${sock('vm2')}`);
    const [r, w] = pipe();
    closeFd(r);
    const ret = await c.execute<{ 'fdset-id': number; fd: number }>('add-fd', { 'fdset-id': 7, opaque: 'from-a-thread' }, { fds: [w] });
    closeFd(w);
    const sets = await c.execute<{ 'fdset-id': number; fds: { fd: number; opaque?: string }[] }[]>('query-fdsets');
    assert.deepEqual(sets, [{ 'fdset-id': 7, fds: [{ fd: ret.fd, opaque: 'from-a-thread' }] }]);
    await c.execute('remove-fd', { 'fdset-id': 7, fd: ret.fd });
    await fdPassingCycles(c, 200, [8]);
    c.close();
    assert.deepEqual(await fds(), before);
  });

  it("/metrics merges every thread's VM series with the process metrics, once each; /readyz covers every thread", async () => {
    const c = await QmpClient.connect(`unix:${sock('vm2')}`); // thread 1
    await c.execute('query-status');
    c.close();
    const text = await (await fetch(`http://${http}/metrics`)).text();
    for (const n of ['vm1', 'vm2', 'vm3']) assert.match(text, new RegExp(`^qmpmux_upstream_state\\{vm="${n}",state="ready"\\} 1$`, 'm'), n);
    assert.match(text, /^qmpmux_commands_total\{vm="vm2",command="query-status",outcome="ok",source="qemu"\} 1$/m);
    assert.equal(text.match(/^# TYPE qmpmux_commands_total counter$/gm)?.length, 1, 'one family, not one per thread');
    assert.equal(text.match(/^# TYPE process_cpu_user_seconds_total counter$/gm)?.length, 1, "the process's own metrics, once");
    // Per thread: its VMs (vm1, vm3 / vm2) and how busy its event loop was.
    assert.match(text, /^qmpmux_thread_vms\{thread="0"\} 2$/m);
    assert.match(text, /^qmpmux_thread_vms\{thread="1"\} 1$/m);
    for (const t of ['0', '1']) {
      const u = Number(new RegExp(`^qmpmux_thread_event_loop_utilization\\{thread="${t}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
      assert.ok(u > 0 && u < 1, `thread ${t}'s utilization: ${u}`);
    }
    const ready = await fetch(`http://${http}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ready: true });
  });

  it('the control socket: query-vms lists the VMs of every thread; add-vm starts one in the thread with fewer VMs; remove-vm stops it; refusals as in one thread', async () => {
    const ctl = await QmpClient.connect(`unix:${control}`);
    const names = async () => (await ctl.execute<{ name: string; origin: string; state: string; clients: number }[]>('__org.qmpmux_query-vms' as never)).map((v) => `${v.name}/${v.origin}/${v.state}`);
    assert.deepEqual(await names(), ['vm1/config/ready', 'vm2/config/ready', 'vm3/config/ready']);
    const threads = await ctl.execute<{ name: string; thread: number }[]>('__org.qmpmux_query-vms' as never);
    assert.deepEqual(Object.fromEntries(threads.map((v) => [v.name, v.thread])), Object.fromEntries(threadOf()), 'each entry names the thread that runs the VM');
    const added = await ctl.execute<{ name: string; origin: string; listeners: string[]; thread: number }>('__org.qmpmux_add-vm' as never, { name: 'ctl', upstream: q(5), listen: [`unix:${sock('ctl')}`] } as never);
    assert.equal(added.name, 'ctl');
    assert.equal(added.origin, 'control');
    assert.equal(added.thread, 1, 'the thread with fewer VMs');
    await until(() => threadOf().has('ctl'), "ctl's start line", 10_000);
    assert.equal(threadOf().get('ctl'), 1, 'as its start line says');
    await assertReaches(`unix:${sock('ctl')}`, 'vm5');
    const refused = (desc: RegExp) => (e: unknown) => e instanceof QmpError && desc.test(e.desc);
    await assert.rejects(ctl.execute('__org.qmpmux_add-vm' as never, { name: 'vm1', upstream: q(5), listen: [`unix:${sock('x')}`] } as never), refused(/vm1/));
    await assert.rejects(ctl.execute('__org.qmpmux_add-vm' as never, { name: 'other', upstream: q(5), listen: [`unix:${sock('vm2')}`] } as never), refused(/is used by VM 'vm2'/));
    assert.deepEqual(await ctl.execute('__org.qmpmux_remove-vm' as never, { name: 'ctl' } as never), {});
    assert.equal(existsSync(sock('ctl')), false, "the removed VM's socket is unlinked");
    await assert.rejects(ctl.execute('__org.qmpmux_remove-vm' as never, { name: 'ctl' } as never), refused(/ctl/));
    assert.deepEqual(await names(), ['vm1/config/ready', 'vm2/config/ready', 'vm3/config/ready']);
    ctl.close();
  });

  it('SIGHUP applies the difference across threads; a client of an unchanged VM stays connected; an invalid file changes nothing', async () => {
    const c1 = await QmpClient.connect(`unix:${sock('vm1')}`);
    const c2 = await QmpClient.connect(`unix:${sock('vm2')}`);
    write([entry('vm1', 1), entry('vm3', 3, { plugins: [{ name: 'clients' }, { name: 'fdsets' }] }), entry('vm4', 4)]);
    assert.match(await hup(), /SIGHUP: configuration reloaded from .* \(added vm4; removed vm2; restarted vm3\)/);
    assert.deepEqual(await c1.execute('query-name'), { name: 'vm1' });
    for (let i = 0; i < 50 && !c2.closed; i++) await sleep(20);
    assert.equal(c2.closed, true, "the removed VM's client is closed");
    assert.equal(existsSync(sock('vm2')), false, "the removed VM's socket is unlinked");
    for (const n of ['vm3', 'vm4']) {
      await assertReaches(`unix:${sock(n)}`, n);
    }
    // vm3 restarted in its thread; vm4 went to the one with fewer VMs (vm2's, now empty).
    await until(() => threadOf().has('vm4'), "vm4's start line", 10_000);
    const t = threadOf();
    assert.deepEqual(Object.fromEntries(['vm1', 'vm2', 'vm3', 'vm4'].map((n) => [n, t.get(n)])), { vm1: 0, vm2: 1, vm3: 0, vm4: 1 });

    writeFileSync(file, JSON.stringify({ threads: 2, vms: [entry('vm1', 1), { name: 'bad name', upstream: q(3), listen: [] }] }));
    assert.match(await hup(), /configuration not reloaded, the previous one stays: config\.vms\[1\]\.name/);
    for (const n of ['vm1', 'vm3', 'vm4']) {
      await assertReaches(`unix:${sock(n)}`, n);
    }
    assert.deepEqual(await c1.execute('query-name'), { name: 'vm1' }, 'the unchanged VM kept its client throughout');
    c1.close();
  });

  it("one QEMU killed: the other VMs' clients keep working", async () => {
    const c1 = await QmpClient.connect(`unix:${sock('vm1')}`);
    const c4 = await QmpClient.connect(`unix:${sock('vm4')}`);
    await qemus[2]!.stop(); // vm3's QEMU
    for (let i = 0; i < 20; i++) {
      assert.deepEqual(await c1.execute('query-name'), { name: 'vm1' });
      assert.deepEqual(await c4.execute('query-name'), { name: 'vm4' });
    }
    // /readyz names the VM whose QEMU is gone, whichever thread runs it.
    const r = await fetch(`http://${http}/readyz`);
    assert.equal(r.status, 503);
    const body = (await r.json()) as { ready: boolean; notReady: { vm: string }[] };
    assert.deepEqual(body.notReady.map((x) => x.vm), ['vm3']);
    c1.close();
    c4.close();
  });

  it('SIGTERM stops every thread and VM, unlinking every socket, exit 0', async () => {
    assert.equal(await serve.stop('SIGTERM', 10_000), 0);
    for (const n of ['vm1', 'vm3', 'vm4']) assert.equal(existsSync(sock(n)), false, `${n}'s socket unlinked`);
    assert.equal(existsSync(control), false, 'the control socket unlinked');
  });
});

describe('discovery with "threads": discovered VMs run in the threads', () => {
  const root = mkdtempSync(join(tmpdir(), 'qmpmux-threads-discover-'));
  const watched = join(root, 'qemu');
  const file = join(root, 'qmpmux.json');
  const control = join(root, 'control.sock');
  const sock = (name: string) => join(root, `${name}.sock`);
  const GONE_MS = 800;
  const qemus: TestQemu[] = [];
  let serve: QmpmuxProcess;
  const threadOf = () => new Map([...serve.log().matchAll(/\[qmpmux:thread(\d+)\] VM '([^']+)' started/g)].map((m) => [m[2]!, Number(m[1])]));
  const write = (vms: unknown[]) =>
    writeFileSync(file, JSON.stringify({ threads: 2, vms, discover: { dir: watched, listen: [`unix:${join(root, '{name}.sock')}`] }, control: `unix:${control}`, limits: { discoverRescanMs: 200, discoverGoneMs: GONE_MS }, plugins: [{ name: 'clients' }], log: 'info' }));
  const waitFor = (pred: () => boolean, what: string) => until(pred, what, 10_000).catch((e: Error) => Promise.reject(new Error(`${e.message}; stderr: ${serve.log()}`)));
  const qemu = async (socket: string, name: string) => {
    const q = await startQemu({ dir: watched, socket, name });
    qemus.push(q);
    return q;
  };
  const names = async () => {
    const ctl = await QmpClient.connect(`unix:${control}`);
    const vms = await ctl.execute<{ name: string; origin: string; state: string }[]>('__org.qmpmux_query-vms' as never);
    ctl.close();
    return vms.map((v) => `${v.name}/${v.origin}/${v.state}`).sort();
  };

  before(async () => {
    mkdirSync(watched);
    const fixed = await startQemu({ name: 'fixed' });
    qemus.push(fixed);
    write([{ name: 'fixed', upstream: fixed.address, listen: [`unix:${sock('fixed')}`] }]);
    serve = await spawnQmpmux(['serve', '--config', file], { ready: /\[qmpmux\] fleet: 1 VM\(s\) in 2 threads, discovering in /, env: { QMPMUX_WARMUP: '100' } });
  });
  after(async () => {
    await serve?.stop('SIGKILL');
    for (const q of qemus) await q.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('QEMUs appearing in the directory become VMs, placed on the thread with the fewest, each reaching its own QEMU', async () => {
    await qemu('d1.qmp', 'd1');
    await waitFor(() => existsSync(sock('d1')), 'd1 discovered');
    await qemu('d2.qmp', 'd2');
    await waitFor(() => existsSync(sock('d2')), 'd2 discovered');
    for (const n of ['fixed', 'd1', 'd2']) {
      await assertReaches(`unix:${sock(n)}`, n);
    }
    await waitFor(() => threadOf().size === 3, "every VM's start line");
    assert.deepEqual(Object.fromEntries(threadOf()), { fixed: 0, d1: 1, d2: 0 });
    assert.deepEqual(await names(), ['d1/discover/ready', 'd2/discover/ready', 'fixed/config/ready']);
  });

  it("a socket removed removes its VM; a QEMU killed is removed after discoverGoneMs (its thread watches the link); restarted, it comes back", async () => {
    const c2 = await QmpClient.connect(`unix:${sock('d2')}`);
    rmSync(qemus.find((q) => q.socket.endsWith('d2.qmp'))!.socket);
    await waitFor(() => c2.closed && !existsSync(sock('d2')), 'd2 removed, its client closed');

    const q1 = qemus.find((q) => q.socket.endsWith('d1.qmp'))!;
    const c1 = await QmpClient.connect(`unix:${sock('d1')}`);
    const killedAt = Date.now();
    await q1.kill(); // its socket file stays behind
    await waitFor(() => !existsSync(sock('d1')), 'd1 removed');
    assert.ok(Date.now() - killedAt >= GONE_MS, 'not before discoverGoneMs');
    assert.equal(c1.closed, true);
    assert.match(serve.log(), new RegExp(`VM 'd1': QEMU unreachable for ${GONE_MS} ms \\(discoverGoneMs\\): removed`));
    await sleep(600); // three rescans: the stale socket file is not taken again
    assert.equal(existsSync(sock('d1')), false);
    assert.deepEqual(await names(), ['fixed/config/ready']);

    await q1.restart(); // a new socket file
    await waitFor(() => existsSync(sock('d1')), 'd1 back');
    await assertReaches(`unix:${sock('d1')}`, 'd1');
  });

  it('SIGHUP: a config VM takes the name of a discovered one over, in its thread; a discovered name a config VM holds is skipped', async () => {
    const other = await startQemu({ name: 'other' });
    qemus.push(other);
    const before = threadOf().get('d1');
    write([{ name: 'fixed', upstream: qemus[0]!.address, listen: [`unix:${sock('fixed')}`] }, { name: 'd1', upstream: other.address, listen: [`unix:${sock('d1-config')}`] }]);
    assert.match(await reloadServe(serve), /SIGHUP: configuration reloaded from .* \(restarted d1\)/);
    await assertReaches(`unix:${sock('d1-config')}`, 'other');
    assert.equal(existsSync(sock('d1')), false, "the discovered VM's listener is gone");
    await waitFor(() => /discovery: VM 'd1' not added: the name is in use by a VM from config/.test(serve.log()), 'the skip warning');
    assert.deepEqual(await names(), ['d1/config/ready', 'fixed/config/ready']);
    assert.equal([...serve.log().matchAll(/\[qmpmux:thread(\d+)\] VM 'd1' started \(config\)/g)].at(-1)?.[1], String(before), 'the same thread');
  });
});

describe('the output budget with "threads": each thread and the main one have an equal share', () => {
  const fx = useFleetFixture('qmpmux-threads-budget-', { threads: 2, limits: { maxTotalClientOutputBytes: 3 * 1024 * 1024 } });
  let serve: QmpmuxProcess;
  before(async () => {
    await fx.startQemus(2);
    fx.write([fx.entry('vm1', 1), fx.entry('vm2', 2)]);
    serve = await fx.serve(/\[qmpmux\] fleet: 2 VM\(s\) in 2 threads/);
  });

  it("a client that stops reading is disconnected by its thread's share of maxTotalClientOutputBytes (3 MiB for three), far below its own limit (16 MiB); the other thread's VM is served", async () => {
    const c = await RawClient.connect(`unix:${fx.sock('vm1')}`);
    await c.count(1);
    c.send('{"execute":"qmp_capabilities"}');
    await c.count(2);
    c.conn.pause();
    c.send('{"execute":"query-qmp-schema"}'.repeat(40)); // ~200 KB a reply: ~8 MB
    await until(() => /\[qmpmux:vm1\] client does not read its output: disconnected \(maxTotalClientOutputBytes/.test(serve.log()), 'the eviction', 10_000);
    c.conn.resume();
    await until(() => c.closed, 'its connection closed', 10_000);
    assert.doesNotMatch(serve.log(), /maxClientOutputBytes\)/, 'the share did it, not the per-client limit');
    await assertReaches(`unix:${fx.sock('vm2')}`, 'vm2');
    await assertReaches(`unix:${fx.sock('vm1')}`, 'vm1');
  });
});

describe('"threads" is refused where it does not apply', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qmpmux-fleet-threads-bad-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const vm = { name: 'vm1', upstream: 'unix:/nonexistent.qmp', listen: [`unix:${join(dir, 'vm1.sock')}`] };
  const cases: [string, Record<string, unknown>, string[], RegExp][] = [
    ['not an integer from 1 to 64', { threads: 0, vms: [vm] }, [], /config\.threads: expected "auto" or an integer from 1 to 64/],
    ['the single-VM form', { threads: 2, upstream: 'unix:/nonexistent.qmp' }, [], /config\.threads: threads are for the fleet form \(vms, discover\)/],
    ['the single-VM form, managed QEMU', { threads: 2 }, [], /config\.threads: threads are for the fleet form \(vms, discover\)/],
  ];
  it('--check-config refuses what serve refuses, and takes --discover as the fleet form', async () => {
    const file = join(dir, 'check.json');
    writeFileSync(file, JSON.stringify({ threads: 2 }));
    const r = await runQmpmux(['serve', '--check-config', file]);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /config\.threads: threads are for the fleet form/);
    const ok = await runQmpmux(['serve', '--check-config', file, '--discover', dir]);
    assert.equal(ok.code, 0, ok.err);
    const eff = JSON.parse(ok.out) as { threads: number; discover: { dir: string } };
    assert.equal(eff.threads, 2);
    assert.equal(eff.discover.dir, dir);
  });
  for (const [what, cfg, flags, re] of cases) {
    it(what, async () => {
      const file = join(dir, 'c.json');
      writeFileSync(file, JSON.stringify(cfg));
      const r = await runQmpmux(['serve', '--config', file, ...flags]);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, re);
    });
  }
});
