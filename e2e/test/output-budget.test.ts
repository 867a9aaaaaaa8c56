/**
 * The process-wide output budget (maxTotalClientOutputBytes) across two proxies (two VMs) in one
 * process, each in front of its own real QEMU: clients that never read pipeline query-qmp-schema
 * (~200 KB a reply) or are sent events; the budget disconnects the largest queues first, with the
 * slow-consumer reason, and the reading clients of both VMs go on as if nothing happened.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClient } from '@qmpmux/client';
import { NO_OBSERVER, OutputBudget, createLogger, type DisconnectReason } from '@qmpmux/core';
import { RawClient, openFdCount, startProxy, startQemu, until, type TestProxy, type TestQemu } from '../src/index.ts';

const SCHEMA = '{"execute":"query-qmp-schema"}';

/** One VM: its QEMU, its proxy on the shared budget, and what its proxy reported. */
interface Vm {
  qemu: TestQemu;
  mux: TestProxy;
  reasons: DisconnectReason[];
  warnings: string[];
}

async function startVm(name: string, budget: OutputBudget): Promise<Vm> {
  const qemu = await startQemu({ args: ['-name', name] });
  const reasons: DisconnectReason[] = [];
  const warnings: string[] = [];
  const mux = await startProxy(qemu.address, {
    outputBudget: budget,
    observer: { ...NO_OBSERVER, clientDisconnected: (_t, r) => reasons.push(r) },
    log: createLogger(name, 'warn', (_l, _tag, msg) => warnings.push(msg)),
  });
  return { qemu, mux, reasons, warnings };
}

/** A negotiated client that stops reading, then sends `commands`. */
async function stalled(vm: Vm, commands = ''): Promise<RawClient> {
  const c = await RawClient.connect(vm.mux.unix);
  await c.count(1);
  c.send('{"execute":"qmp_capabilities"}');
  await c.count(2);
  c.conn.pause();
  if (commands) c.send(commands);
  return c;
}

/**
 * Which of these stalled clients were disconnected: they read again, and those whose connection was
 * closed see its end once they have read what was left in the kernel. `n`: how many qmpmux closed.
 */
async function disconnected(clients: RawClient[], n: number): Promise<boolean[]> {
  for (const c of clients) c.conn.resume();
  await until(() => clients.filter((c) => c.closed).length >= n, `${n} clients to see their connection closed`);
  await sleep(200); // none more
  return clients.map((c) => c.closed);
}

/** Wait until the budget's total has not moved for a while (the stalled queues are full). */
async function settled(budget: OutputBudget): Promise<number> {
  let last = -1;
  for (let same = 0; same < 5; ) {
    await sleep(100);
    same = budget.total === last ? same + 1 : 0;
    last = budget.total;
  }
  return last;
}

/** A reading client on `vm` still gets answers, and the events of stop/cont. */
async function stillServed(vm: Vm, name: string): Promise<void> {
  const c = await QmpClient.connect(vm.mux.unix);
  assert.deepEqual(await c.execute('query-name'), { name });
  let events = 0;
  const sub = c.events$.subscribe(() => events++);
  for (let i = 0; i < 5; i++) {
    await c.execute('stop');
    await c.execute('cont');
  }
  await until(() => events === 10, `${name}: 10 events`);
  sub.unsubscribe();
  c.close();
}

describe('a process-wide output budget shared by two VMs', { timeout: 120_000 }, () => {
  const budget = new OutputBudget(1 << 30);
  let vm1: Vm;
  let vm2: Vm;
  before(async () => {
    vm1 = await startVm('vm1', budget);
    vm2 = await startVm('vm2', budget);
  });
  after(async () => {
    for (const vm of [vm1, vm2]) {
      await vm?.mux.stop();
      await vm?.qemu.stop();
    }
  });

  it('at the bound, the client with the largest queue goes first — not the one whose write crossed it', async () => {
    const a1 = await stalled(vm1, SCHEMA.repeat(12));
    const q1 = await settled(budget);
    const b1 = await stalled(vm2, SCHEMA.repeat(8));
    const qb = (await settled(budget)) - q1;
    assert.ok(qb > 0 && qb < q1, `vm2's client holds less (${qb}) than vm1's first (${q1})`);
    const b2 = await stalled(vm2);
    const limit = q1 + qb + Math.floor(qb / 2);
    budget.setLimit(limit); // nobody is over it yet
    assert.equal(a1.closed || b1.closed || b2.closed, false);

    // vm1's second client grows to about qb: it crosses the bound half-way, while vm1's first is largest.
    const a2 = await stalled(vm1, SCHEMA.repeat(8));
    await settled(budget);
    assert.ok(budget.total <= limit, `total ${budget.total} ≤ ${limit}`);
    assert.deepEqual(vm1.reasons, ['slow_consumer']);
    assert.deepEqual(await disconnected([a1, a2, b1, b2], 1), [true, false, false, false], 'the largest went, the others stay');
    assert.deepEqual(vm2.reasons, []);
    assert.equal(vm1.warnings.filter((w) => w.includes('maxTotalClientOutputBytes')).length, 1);

    await stillServed(vm1, 'vm1');
    await stillServed(vm2, 'vm2');
    for (const c of [a2, b1, b2]) c.conn.destroy();
    await until(() => vm1.mux.proxy.clients.size === 0 && vm2.mux.proxy.clients.size === 0, 'every client gone');
    assert.equal(budget.total, 0, 'every byte released');
    assert.equal(budget.size, 0, 'no account outlives its client');
  });

  it('flooded by replies and events on both VMs, the total stays bounded, readers keep working, no fd leaks', async () => {
    const limit = 2 * 1024 * 1024;
    budget.setLimit(limit);
    for (const vm of [vm1, vm2]) vm.reasons.length = vm.warnings.length = 0;
    const fds = openFdCount();
    const qemuFds = [openFdCount(vm1.qemu.pid), openFdCount(vm2.qemu.pid)];
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, budget.total)), 2);
    const slow: RawClient[] = [];
    for (const vm of [vm1, vm2]) {
      for (let i = 0; i < 3; i++) slow.push(await stalled(vm, SCHEMA.repeat(30))); // ~6 MB each
      for (let i = 0; i < 3; i++) slow.push(await stalled(vm)); // events only
    }
    // Events to every stalled client, from a reading client on each VM.
    await Promise.all(
      [vm1, vm2].map(async (vm, i) => {
        const reader = await QmpClient.connect(vm.mux.unix);
        let events = 0;
        reader.events$.subscribe(() => events++);
        for (let k = 0; k < 200; k++) {
          await reader.execute('stop');
          await reader.execute('cont');
        }
        await until(() => events === 400, `vm${i + 1}'s reader: every event`);
        reader.close();
      }),
    );
    await settled(budget);
    clearInterval(sampler);
    assert.ok(peak <= limit, `peak total ${peak} ≤ ${limit}`);
    const reasons = [...vm1.reasons, ...vm2.reasons];
    const evicted = reasons.filter((r) => r === 'slow_consumer').length;
    assert.ok(evicted >= 2, `stalled clients were disconnected as slow consumers (${evicted})`);
    assert.deepEqual(reasons.filter((r) => r !== 'slow_consumer'), ['closed', 'closed'], 'besides them, only the two readers left');
    const gone = (await disconnected(slow, evicted)).filter(Boolean).length;
    assert.equal(gone, evicted, 'the clients that saw their connection closed are those qmpmux closed');
    assert.equal([...vm1.warnings, ...vm2.warnings].filter((w) => w.includes('(maxClientOutputBytes)')).length, 0, 'the budget did it, not the per-client limit');

    await stillServed(vm1, 'vm1');
    await stillServed(vm2, 'vm2');
    for (const c of slow) c.conn.destroy();
    await until(() => vm1.mux.proxy.clients.size === 0 && vm2.mux.proxy.clients.size === 0, 'every client gone');
    assert.equal(budget.total, 0);
    assert.equal(budget.size, 0);
    await until(() => openFdCount() === fds, () => `qmpmux's fds back to ${fds} (now ${openFdCount()})`);
    assert.deepEqual([openFdCount(vm1.qemu.pid), openFdCount(vm2.qemu.pid)], qemuFds, "QEMU's fds unchanged");
  });

  it('a client closed with its output unread stays counted until its connection goes, which is at most closeFlushMs later', async () => {
    budget.setLimit(1 << 30);
    const qemu = await startQemu();
    const mux = await startProxy(qemu.address, { outputBudget: budget, limits: { maxMessageBytes: 4096, closeFlushMs: 1000 } });
    try {
      const fds = openFdCount();
      const c = await RawClient.connect(mux.unix);
      await c.count(1);
      c.conn.pause();
      // Replies it never reads, then a message too large: qmpmux answers with an error and closes it.
      c.send('{"execute":"qmp_capabilities"}' + SCHEMA.repeat(10) + `{"execute":"x","arguments":{"a":"${'a'.repeat(5000)}"}}`);
      await until(() => mux.proxy.clients.size === 0, 'the client to be closed');
      assert.ok(budget.total > 1_000_000, `its unread output still counts (${budget.total})`);
      assert.equal(budget.size, 1);
      await until(() => budget.size === 0, 'its connection to be dropped');
      assert.equal(budget.total, 0);
      c.conn.destroy(); // our end (the test's own fd)
      await until(() => openFdCount() === fds, "qmpmux's end closed too");
    } finally {
      await mux.stop();
      await qemu.stop();
    }
  });
});
