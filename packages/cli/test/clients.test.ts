/**
 * `qmpmux clients ADDRESS` against a real QEMU behind qmpmux with the clients and policy plugins: unix
 * clients of this uid are `operator`, TCP clients fall back to `viewer`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { QmpClient } from '@qmpmux/client';
import { clientsPlugin } from '@qmpmux/plugin-clients';
import { policyPlugin } from '@qmpmux/plugin-policy';
import { runQmpmux, startProxy, startQemu, type TestProxy, type TestQemu } from '@qmpmux/e2e';

describe('qmpmux clients', () => {
  let qemu: TestQemu;
  let mux: TestProxy;
  let overUnix: QmpClient;
  let overTcp: QmpClient;

  before(async () => {
    qemu = await startQemu();
    const policy = {
      principals: [
        { name: 'operator', match: [{ uid: process.getuid!() }], profile: 'full' },
        { name: 'viewer', match: [{ uid: 4_000_000_000 }], profile: 'read-only' },
      ],
      unmatched: { principal: 'viewer' },
    };
    mux = await startProxy(qemu.address, { plugins: [{ definition: policyPlugin, options: policy }, { definition: clientsPlugin }] });
    overUnix = await QmpClient.connect(mux.unix);
    overTcp = await QmpClient.connect(mux.tcp);
    await overUnix.execute('query-status');
  });
  after(async () => {
    overUnix?.close();
    overTcp?.close();
    await mux?.stop();
    await qemu?.stop();
  });

  it('prints a table of who is connected: transport, address, principal, pid and uid, counters (query-status: 1 command)', async () => {
    const r = await runQmpmux(['clients', mux.unix]);
    assert.equal(r.code, 0, r.err);
    const [head, ...rows] = r.out.trimEnd().split('\n').map((l) => l.split(/ {2,}/));
    assert.deepEqual(head, ['ID', 'TRANSPORT', 'ADDRESS', 'PRINCIPAL', 'PID', 'UID', 'CONNECTED', 'CMDS', 'EVENTS', 'STATE']);
    assert.equal(rows.length, 3, 'the two others and itself');
    const sockPath = mux.unix.slice('unix:'.length);
    const unix = rows.find((c) => c[3] === 'operator' && c[4] === String(process.pid))!;
    assert.ok(unix, r.out);
    assert.deepEqual([unix[1], unix[2], unix[5], unix[7], unix[9]], ['unix', sockPath, String(process.getuid!()), '1', 'ready']);
    assert.match(unix[6]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const tcp = rows.find((c) => c[1] === 'tcp')!;
    assert.ok(tcp, r.out);
    assert.deepEqual([tcp[3], tcp[4], tcp[5], tcp[9]], ['viewer', '-', '-', 'ready']);
    assert.match(tcp[2]!, /^127\.0\.0\.1:\d+$/);
    const self = rows.find((c) => c !== unix && c !== tcp)!;
    assert.deepEqual([self[1], self[3]], ['unix', 'operator']);
  });

  it('--json: the reply of __org.qmpmux_query-clients, here asked by the read-only viewer over TCP', async () => {
    const r = await runQmpmux(['clients', '--json', mux.tcp]);
    assert.equal(r.code, 0, r.err);
    const list = JSON.parse(r.out) as { id: number; transport: string; principal?: string; pid?: number; commands: number }[];
    assert.equal(new Set(list.map((c) => c.id)).size, 3, 'the two others and itself');
    assert.deepEqual(list.map((c) => `${c.transport} ${c.principal}`).sort(), ['tcp viewer', 'tcp viewer', 'unix operator']);
    assert.equal(list.find((c) => c.transport === 'unix')!.pid, process.pid);
  });

  it('without the clients plugin: one line saying so, exit 1', async () => {
    const q = await startQemu();
    const plain = await startProxy(q.address, { tcp: false });
    try {
      const r = await runQmpmux(['clients', plain.unix]);
      assert.equal(r.code, 1);
      assert.equal(r.err, 'qmpmux clients: The command __org.qmpmux_query-clients has not been found (is the clients plugin enabled?)\n');
    } finally {
      await plain.stop();
      await q.stop();
    }
  });
});
