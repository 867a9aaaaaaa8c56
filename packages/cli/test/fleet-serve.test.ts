/**
 * `qmpmux serve --config` in the fleet form, as its own process, against real QEMUs: each VM's
 * listener reaches its own QEMU, metrics and /readyz cover every VM, SIGHUP applies the difference
 * (a client of an unchanged VM stays connected and works; an invalid file changes nothing), the
 * control socket lists the VMs, and SIGTERM stops everything, unlinking every socket.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClient } from '@qmpmux/client';
import { useFleetFixture } from './fleet-fixture.ts';
import { assertReaches, httpAddressOf, reloadServe, runQmpmux, spawnQmpmux, startQemu, until, type QmpmuxProcess, type TestQemu } from '@qmpmux/e2e';

/** `qmpmux serve --config FILE` as its own process, once its log matches `ready`. */
const serveConfig = (file: string, ready: RegExp) => spawnQmpmux(['serve', '--config', file], { ready, env: { QMPMUX_WARMUP: '100' } });

/** What "threads": "auto" (the default) stands for on this machine: one per core, at most 4. */
const AUTO_THREADS = Math.min(availableParallelism(), 4);

// Both ways the VMs run: in the main thread, and as a fleet runs by default (one thread per core).
for (const [mode, base, threads] of [
  ['in one thread ("threads": 1)', { threads: 1 }, 1],
  ['with the default threads (one per core, at most 4)', {}, AUTO_THREADS],
] as const) describe(`qmpmux serve with a fleet config, ${mode}`, () => {
  const fx = useFleetFixture('qmpmux-fleet-serve-', base);
  const { sock, control, entry, write } = fx;
  let serve: QmpmuxProcess;
  let http = '';

  const hup = () => reloadServe(serve);

  before(async () => {
    await fx.startQemus(3);
    write([entry('vm1', 1), entry('vm2', 2)]);
    serve = await fx.serve(/\[qmpmux\] fleet: 2 VM\(s\)/);
    http = httpAddressOf(serve);
  });

  it(`runs the VMs in ${threads} thread(s)`, () => {
    const line = /\[qmpmux\] fleet: 2 VM\(s\)( in (\d+) threads)?/.exec(serve.log())!;
    assert.equal(Number(line[2] ?? 1), threads);
  });

  it("serves each VM on its own listener, in front of its own QEMU; each VM's log lines carry its name", async () => {
    for (const n of ['vm1', 'vm2']) {
      await assertReaches(`unix:${sock(n)}`, n);
    }
    assert.match(serve.log(), /\[qmpmux:vm2:upstream\] connected to QEMU/);
  });

  it('reports metrics per VM and is ready when every VM is', async () => {
    const ready = await fetch(`http://${http}/readyz`);
    assert.equal(ready.status, 200);
    const text = await (await fetch(`http://${http}/metrics`)).text();
    for (const n of ['vm1', 'vm2']) assert.match(text, new RegExp(`qmpmux_upstream_state\\{vm="${n}",state="ready"\\} 1`));
  });

  it('SIGHUP applies the difference; a client of an unchanged VM stays connected; an invalid file changes nothing', async () => {
    const c1 = await QmpClient.connect(`unix:${sock('vm1')}`);
    const c2 = await QmpClient.connect(`unix:${sock('vm2')}`);
    const seen: string[] = [];
    c1.events$.subscribe((e) => seen.push(e.event));

    write([entry('vm1', 1), entry('vm3', 3)]);
    assert.match(await hup(), /SIGHUP: configuration reloaded from .* \(added vm3; removed vm2\)/);
    assert.deepEqual(await c1.execute('query-name'), { name: 'vm1' });
    for (let i = 0; i < 50 && !c2.closed; i++) await sleep(20);
    assert.equal(c2.closed, true, "the removed VM's client is closed");
    assert.equal(existsSync(sock('vm2')), false, "the removed VM's socket is unlinked");
    const c3 = await QmpClient.connect(`unix:${sock('vm3')}`);
    assert.deepEqual(await c3.execute('query-name'), { name: 'vm3' });

    write([entry('vm1', 1), { ...entry('vm3', 3), name: 'bad name' }, entry('vm4', 2)]);
    assert.match(await hup(), /qmpmux error \[qmpmux\] SIGHUP: configuration not reloaded, the previous one stays: config\.vms\[1\]\.name: a VM name is 1 to 64 of/);
    write([entry('vm1', 1), entry('vm1', 3)]);
    assert.match(await hup(), /the previous one stays: config\.vms\[1\]\.name: VM name 'vm1' is used by config\.vms\[0\] too/);
    write([entry('vm1', 1), { ...entry('vm3', 3), plugins: [{ name: 'nope' }] }]);
    assert.match(await hup(), /the previous one stays: config\.vms\[1\]\.plugins\[0\]\.name: unknown plugin 'nope'/);
    assert.equal(existsSync(sock('vm4')), false, 'nothing was added');
    assert.deepEqual(await c3.execute('query-name'), { name: 'vm3' }, 'nothing was removed');

    assert.deepEqual(await c1.execute('query-name'), { name: 'vm1' });
    assert.equal(c1.closed, false, 'the unchanged VM client stayed connected through four reloads');
    assert.deepEqual(seen, []);
    c1.close();
    c3.close();
  });

  it('the control socket lists the VMs', async () => {
    const ctl = await QmpClient.connect(`unix:${control}`);
    const vms = await ctl.execute<{ name: string; state: string; origin: string }[]>('__org.qmpmux_query-vms' as never);
    assert.deepEqual(
      vms.map((v) => [v.name, v.state, v.origin]),
      [
        ['vm1', 'ready', 'config'],
        ['vm3', 'ready', 'config'],
      ],
    );
    ctl.close();
  });

  it('SIGTERM stops every VM and the control socket, unlinking their sockets', async () => {
    serve.child.kill('SIGTERM');
    assert.equal(await serve.exited, 0);
    for (const p of [sock('vm1'), sock('vm3'), control]) assert.equal(existsSync(p), false, p);
  });
});


describe('qmpmux serve: fleet config errors', () => {
  const run = async (cfg: unknown, ...args: string[]) => {
    const dir = mkdtempSync(join(tmpdir(), 'qmpmux-fleet-cfg-'));
    try {
      writeFileSync(join(dir, 'c.json'), JSON.stringify(cfg));
      return await runQmpmux(['serve', '--check-config', join(dir, 'c.json'), ...args]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const vm = (name: string, extra: Record<string, unknown> = {}) => ({ name, upstream: `unix:/run/${name}.qmp`, listen: [`unix:/run/mux/${name}.sock`], ...extra });

  it('names the bad field by its path, exit 2, one line', async () => {
    const cases: [unknown, RegExp][] = [
      [{ vms: [vm('a'), vm('a')] }, /config\.vms\[1\]\.name: VM name 'a' is used by config\.vms\[0\] too/],
      [{ vms: [vm('a'), vm('b'), vm('c'), { name: 'd', listen: ['unix:/x'] }] }, /config\.vms\[3\]\.upstream: missing: the fleet form attaches to QEMUs others start/],
      [{ vms: [vm('a'), vm('x/y')] }, /config\.vms\[1\]\.name: a VM name is 1 to 64 of/],
      [{ vms: [vm('a'), vm('b', { listen: ['unix:/run/mux/a.sock'] })] }, /config\.vms\[1\]\.listen\[0\]: unix:\/run\/mux\/a\.sock is also config\.vms\[0\]\.listen\[0\]/],
      [{ upstream: 'unix:/q', vms: [vm('a')] }, /config\.upstream: not in the fleet form/],
      [{ vms: [vm('a', { plugins: [{ name: 'policy', options: { principals: 3 } }] })] }, /config\.vms\[0\]\.plugins\[0\]\.options\.principals/],
      [{ vms: [vm('a', { limits: { maxVms: 3 } })] }, /config\.vms\[0\]\.limits\.maxVms: unknown field/],
      [{ discover: { dir: '/run/qemu', listen: ['unix:/run/mux/all.sock'] } }, /config\.discover\.listen\[0\]: every discovered VM would listen on unix:\/run\/mux\/all\.sock: put \{name\} in it/],
      [{ vms: [vm('a')], control: 'tcp:127.0.0.1:1' }, /config\.control: expected unix:PATH/],
    ];
    for (const [cfg, re] of cases) {
      const r = await run(cfg);
      assert.equal(r.code, 2, `${JSON.stringify(cfg)}: ${r.err}`);
      assert.match(r.err, re);
      assert.equal(r.err.trim().split('\n').length, 1);
    }
  });

  it('--check-config prints the fleet form with every default filled in', async () => {
    const r = await run({ vms: [vm('a'), vm('b', { plugins: [{ name: 'policy', options: { principals: [{ name: 'root', match: [{ uid: 0 }], profile: 'full' }] } }], limits: { maxClients: 4 } })], discover: { dir: '/run/qemu' }, control: 'unix:/run/mux/control.sock', limits: { maxVms: 50 } });
    assert.equal(r.code, 0, r.err);
    const eff = JSON.parse(r.out);
    assert.deepEqual(eff.vms.map((v: { name: string }) => v.name), ['a', 'b']);
    assert.deepEqual(eff.vms[0].plugins.map((p: { name: string }) => p.name), ['clients', 'fdsets'], "the top-level plugins (the defaults) are every VM's default");
    assert.deepEqual(eff.vms[1].plugins.map((p: { name: string }) => p.name), ['policy'], "a VM's own plugins replace them");
    assert.equal(eff.vms[1].limits.maxClients, 4);
    assert.equal(eff.vms[0].limits.maxClients, 1024);
    assert.equal(eff.limits.maxVms, 50);
    assert.equal(eff.limits.discoverGoneMs, 30000);
    assert.deepEqual(eff.discover.listen, ['unix:qmpmux-{name}.sock']);
    assert.equal(eff.discover.glob, '*.qmp');
    assert.equal(eff.control, 'unix:/run/mux/control.sock');
    assert.equal('upstream' in eff, false);
    assert.equal(eff.threads, AUTO_THREADS, '"auto": one thread per core, at most 4');
    const single = await run({ upstream: 'unix:/run/qemu/vm1.qmp' });
    assert.equal(JSON.parse(single.out).threads, 1, 'the single-VM form: its one VM in the main thread');
    const two = await run({ vms: [vm('a')], threads: 2 });
    assert.equal(JSON.parse(two.out).threads, 2);
  });

  it('--discover DIR makes the fleet form; --listen gives the templates', async () => {
    const r = await run({}, '--discover', '/run/qemu', '--listen', 'unix:/run/mux/{name}.sock');
    assert.equal(r.code, 0, r.err);
    const eff = JSON.parse(r.out);
    assert.deepEqual(eff.discover.listen, ['unix:/run/mux/{name}.sock']);
    assert.equal(eff.discover.dir, '/run/qemu');
  });
});

describe('qmpmux serve with discovery', () => {
  const root = mkdtempSync(join(tmpdir(), 'qmpmux-serve-discover-'));
  const watched = join(root, 'qemu');
  const file = join(root, 'qmpmux.json');
  const control = join(root, 'control.sock');
  const qemus: TestQemu[] = [];
  let serve: QmpmuxProcess;
  const write = (template: string) =>
    writeFileSync(file, JSON.stringify({ threads: 1, discover: { dir: watched, listen: [`unix:${join(root, template)}`] }, control: `unix:${control}`, limits: { discoverRescanMs: 200 }, log: 'info' }));

  before(async () => {
    mkdirSync(watched);
    write('{name}.sock');
    serve = await serveConfig(file, /\[qmpmux\] fleet: 0 VM\(s\), discovering in /);
  });
  after(async () => {
    await serve?.stop('SIGKILL');
    for (const qm of qemus) await qm.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const waitFor = (pred: () => boolean, what: string) => until(pred, what).catch((e: Error) => Promise.reject(new Error(`${e.message}; stderr: ${serve.log()}`)));

  it('a QEMU starting in the directory becomes a VM; SIGHUP moves its listener; remove-vm through the control socket removes it', async () => {
    qemus.push(await startQemu({ dir: watched, socket: 'web-1.qmp', name: 'web-1' }));
    await waitFor(() => existsSync(join(root, 'web-1.sock')), 'web-1 discovered');
    const c = await QmpClient.connect(`unix:${join(root, 'web-1.sock')}`);
    assert.deepEqual(await c.execute('query-name'), { name: 'web-1' });

    write('mux-{name}.sock');
    serve.child.kill('SIGHUP');
    await waitFor(() => existsSync(join(root, 'mux-web-1.sock')), 'web-1 on its new listener');
    await waitFor(() => c.closed && !existsSync(join(root, 'web-1.sock')), 'the old listener gone');
    const d = await QmpClient.connect(`unix:${join(root, 'mux-web-1.sock')}`);
    assert.deepEqual(await d.execute('query-name'), { name: 'web-1' });

    const ctl = await QmpClient.connect(`unix:${control}`);
    const vms = await ctl.execute<{ name: string; origin: string }[]>('__org.qmpmux_query-vms' as never);
    assert.deepEqual(vms.map((v) => [v.name, v.origin]), [['web-1', 'discover']]);
    assert.deepEqual(await ctl.execute('__org.qmpmux_remove-vm' as never, { name: 'web-1' } as never), {});
    await waitFor(() => d.closed && !existsSync(join(root, 'mux-web-1.sock')), 'web-1 removed');
    await sleep(600); // three rescans: the socket is still there, and stays ignored
    assert.equal(existsSync(join(root, 'mux-web-1.sock')), false);
    ctl.close();
  });
});
