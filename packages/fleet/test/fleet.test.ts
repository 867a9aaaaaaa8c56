/**
 * The fleet manager against real QEMUs (`-name vmN`): every VM's listener reaches its own QEMU, a sync
 * applies only the difference (clients of unchanged VMs stay connected and keep working), and an
 * invalid sync changes nothing, naming the bad field.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient } from '@qmpmux/client';
import { ConfigError, OutputBudget } from '@qmpmux/core';
import { RawClient, startQemu, type TestQemu } from '@qmpmux/e2e';
import { Fleet } from '../src/index.ts';
import { eventually, keptLog, vm } from './helpers.ts';

const uid = process.getuid!();
const policy = (principal: string) => [{ name: 'policy', options: { principals: [{ name: principal, match: [{ uid }], profile: 'full' }] } }];

describe('a fleet of VMs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qmpmux-fleet-'));
  const sock = (n: string) => join(dir, `${n}.sock`);
  const qemus: TestQemu[] = [];
  const q = (n: number) => qemus[n - 1]!.address;
  const { log, lines } = keptLog();
  const fleet = new Fleet({ log, maxVms: 16 });
  const clients: QmpClient[] = [];
  const connect = async (n: string) => {
    const c = await QmpClient.connect(`unix:${sock(n)}`);
    clients.push(c);
    return c;
  };
  const initial = () => [
    vm(0, 'vm1', q(1), [`unix:${sock('vm1')}`]),
    vm(1, 'vm2', q(2), [`unix:${sock('vm2')}`], { plugins: policy('alice') }),
    vm(2, 'vm3', q(3), [`unix:${sock('vm3')}`]),
  ];

  before(async () => {
    for (let i = 1; i <= 4; i++) qemus.push(await startQemu({ name: `vm${i}` }));
  });
  after(async () => {
    for (const c of clients) c.close();
    await fleet.stop();
    for (const qm of qemus) await qm.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("each VM's listener reaches its own QEMU", async () => {
    const report = await fleet.sync('config', initial(), { atomic: true });
    assert.deepEqual(report.added.sort(), ['vm1', 'vm2', 'vm3']);
    for (const n of ['vm1', 'vm2', 'vm3']) {
      const c = await connect(n);
      assert.deepEqual(await c.execute('query-name'), { name: n });
    }
    assert.deepEqual(fleet.list().map((v) => v.proxy.name).sort(), ['vm1', 'vm2', 'vm3']);
    assert.ok(lines.some((l) => l.includes('[qmpmux:vm2:upstream] connected to QEMU')), "each VM's log lines carry its name");
  });

  it('a sync applies the difference and leaves the clients of unchanged VMs alone', async () => {
    const c1 = await connect('vm1');
    const c2 = await connect('vm2');
    const c3 = await connect('vm3');
    const seen: string[] = [];
    c1.events$.subscribe((e) => seen.push(e.event));
    assert.deepEqual(await c2.execute('__org.qmpmux_query-principal' as never), { principal: 'alice' });

    const next = [
      vm(0, 'vm1', q(1), [`unix:${sock('vm1')}`]), // unchanged
      vm(1, 'vm2', q(2), [`unix:${sock('vm2')}`], { plugins: policy('bob') }), // plugin options only
      vm(2, 'vm4', q(4), [`unix:${sock('vm4')}`]), // added; vm3 removed
    ];
    const report = await fleet.sync('config', next, { atomic: true });
    assert.deepEqual(report, { added: ['vm4'], removed: ['vm3'], restarted: [], reloaded: ['vm2'], failed: [], skipped: [] });

    assert.deepEqual(await c1.execute('query-name'), { name: 'vm1' }, 'the unchanged VM client works on');
    assert.deepEqual(await c2.execute('__org.qmpmux_query-principal' as never), { principal: 'bob' }, 'the same connection, its VM reloaded');
    await eventually(() => c3.closed, "the removed VM's client is closed");
    assert.equal(existsSync(sock('vm3')), false, "the removed VM's socket is unlinked");
    assert.deepEqual(await (await connect('vm4')).execute('query-name'), { name: 'vm4' });
    assert.equal(c1.closed, false);
    assert.deepEqual(seen, [], 'nothing spurious reached the unchanged VM client');
  });

  it('a VM whose upstream, listeners or limits change is restarted; the others are not', async () => {
    const c1 = await connect('vm1');
    const c4 = await connect('vm4');
    const next = [
      vm(0, 'vm1', q(1), [`unix:${sock('vm1')}`]),
      vm(1, 'vm2', q(2), [`unix:${sock('vm2')}`], { plugins: policy('bob') }),
      vm(2, 'vm4', q(3), [`unix:${sock('vm4b')}`], { limits: { maxClients: 4 } }), // now in front of QEMU vm3
    ];
    const report = await fleet.sync('config', next, { atomic: true });
    assert.deepEqual(report.restarted, ['vm4']);
    assert.deepEqual(report.reloaded, []);
    await eventually(() => c4.closed, 'the restarted VM closes its clients');
    assert.equal(existsSync(sock('vm4')), false);
    assert.deepEqual(await (await connect('vm4b')).execute('query-name'), { name: 'vm3' });
    assert.equal(fleet.get('vm4')!.proxy.limits.maxClients, 4);
    assert.deepEqual(await c1.execute('query-name'), { name: 'vm1' });
  });

  it('an invalid sync changes nothing and names the bad field', async () => {
    const c1 = await connect('vm1');
    const c2 = await connect('vm2');
    const before = fleet.list().map((v) => v.proxy);
    const bad = [
      vm(0, 'vm1', q(1), [`unix:${sock('vm1')}`]),
      vm(1, 'vm2', q(2), [`unix:${sock('vm2')}`], { plugins: [{ name: 'policy', options: { principals: [{ name: 'x', match: [{ uid }], profile: 'admin' }] } }] }),
      vm(2, 'vm5', q(4), [`unix:${sock('vm5')}`]),
    ];
    await assert.rejects(fleet.sync('config', bad, { atomic: true }), (e: unknown) => e instanceof ConfigError && e.path === 'config.vms[1].plugins[0].options.principals[0].profile');
    const exposed = [vm(0, 'vm1', q(1), ['tcp:0.0.0.0:0'])];
    await assert.rejects(fleet.sync('config', exposed, { atomic: true }), (e: unknown) => e instanceof ConfigError && e.path === 'config.vms[0].listen[0]' && /non-loopback/.test(e.message));
    assert.deepEqual(fleet.list().map((v) => v.proxy), before, 'the same VMs, the same Proxy instances');
    assert.equal(existsSync(sock('vm5')), false);
    assert.deepEqual(await c2.execute('__org.qmpmux_query-principal' as never), { principal: 'bob' }, 'the previous options stay');
    assert.deepEqual(await c1.execute('query-name'), { name: 'vm1' });
  });

  it('remove with an origin removes only a VM of that origin (a discovered VM whose name a config VM took meanwhile stays)', async () => {
    assert.equal(fleet.get('vm1')?.spec.origin, 'config');
    assert.equal(await fleet.remove('vm1', 'its QEMU is gone', 'discover'), false);
    assert.ok(fleet.get('vm1'), 'still running');
    assert.equal(existsSync(sock('vm1')), true);
  });

  it('more VMs than maxVms: the sync is refused whole', async () => {
    const small = new Fleet({ log, maxVms: 1 });
    try {
      await assert.rejects(small.sync('config', [vm(0, 'a', q(1), [`unix:${sock('a')}`]), vm(1, 'b', q(2), [`unix:${sock('b')}`])], { atomic: true }), /limits\.maxVms: more than 1 VMs in all/);
      assert.equal(small.size, 0);
    } finally {
      await small.stop();
    }
  });

  it("every VM's clients count against the fleet's one output budget", async () => {
    const budget = new OutputBudget(64 * 1024 * 1024);
    const shared = new Fleet({ log, maxVms: 4, outputBudget: budget });
    const raws: RawClient[] = [];
    const own = [await startQemu({ name: 'b1' }), await startQemu({ name: 'b2' })]; // QEMU serves one monitor client
    try {
      await shared.sync('config', [vm(0, 'b1', own[0]!.address, [`unix:${sock('b1')}`]), vm(1, 'b2', own[1]!.address, [`unix:${sock('b2')}`])], { atomic: true });
      assert.ok(shared.list().every((v) => v.proxy.outputBudget === budget), 'each VM got the fleet budget');
      // A client on each VM that stops reading and pipelines query-qmp-schema (~200 KB a reply).
      for (const n of ['b1', 'b2']) {
        const c = await RawClient.connect(`unix:${sock(n)}`);
        raws.push(c);
        await c.count(1);
        c.send('{"execute":"qmp_capabilities"}');
        await c.count(2);
        c.conn.pause();
        c.send('{"execute":"query-qmp-schema"}'.repeat(20));
      }
      // What metrics read per VM (qmpmux_client_output_bytes): each VM's stalled client holds output…
      const perVm = () => shared.list().map((v) => v.proxy.gauges().clientOutputBytes);
      await eventually(() => budget.size === 2 && perVm().every((b) => b > 1024 * 1024), 'both stalled clients hold output in the one budget');
      // …and together they are the budget's total (read in one tick: nothing else holds an account).
      assert.equal(perVm().reduce((a, b) => a + b, 0), budget.total);
    } finally {
      for (const c of raws) c.close();
      await shared.stop();
      for (const qm of own) await qm.stop();
    }
    assert.equal(budget.total, 0, 'nothing left counted once the VMs are gone');
    assert.equal(budget.size, 0);
  });
});
