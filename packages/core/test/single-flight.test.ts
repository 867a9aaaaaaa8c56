/**
 * Single-flight (single-flight.ts) against a scripted fake QEMU that holds its answers: identical pure
 * queries waiting in the dispatcher go to QEMU once, and no client is answered with a reply QEMU
 * produced before that client's request arrived. Real QEMU answers too fast to show the difference.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClient } from '@qmpmux/client';
import { NO_OBSERVER, Proxy, createLogger, type Observer } from '../src/index.ts';
import { FakeQemu, type FakeConn } from '@qmpmux/fake-qemu';

/** A fake QEMU that answers nothing until told: `held` lists what it received, in order. */
function holdingQemu(): { fake: FakeQemu; held: { conn: FakeConn; msg: any }[]; answer(i: number, ret: unknown): void } {
  const fake = new FakeQemu();
  const held: { conn: FakeConn; msg: any }[] = [];
  fake.onCommand = (conn, msg) => void held.push({ conn, msg });
  return { fake, held, answer: (i, ret) => held[i]!.conn.send(`{"return": ${JSON.stringify(ret)}, "id": ${JSON.stringify(held[i]!.msg.id)}}`) };
}

async function until(pred: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

describe('single-flight', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setUp(limits: Record<string, number> = {}) {
    const q = holdingQemu();
    await q.fake.start();
    const joined: string[] = [];
    const observer: Observer = { ...NO_OBSERVER, singleFlightJoined: (c) => void joined.push(c) };
    const proxy = await Proxy.create({ upstream: q.fake.address, listen: ['tcp:127.0.0.1:0'], limits, observer, log: createLogger('t', 'silent') });
    await proxy.start();
    await until(() => proxy.link.state === 'ready', 'ready');
    cleanups.push(() => q.fake.stop(), () => proxy.stop());
    const clients = await Promise.all([1, 2, 3].map(() => QmpClient.connect(proxy.listeners[0]!.bound)));
    cleanups.push(async () => clients.forEach((c) => c.close()));
    const statuses = () => q.held.filter((h) => h.msg.execute === 'query-status');
    return { ...q, proxy, clients, joined, statuses };
  }

  it('a query sent after an identical one went out to QEMU is sent on its own and gets the later answer', async () => {
    const { clients, answer, statuses, joined } = await setUp();
    const [a, b] = clients;
    const first = a!.execute('query-status');
    await until(() => statuses().length === 1, "a's query at QEMU");
    // QEMU holds a's answer; b asks the same after a's query was written.
    const second = b!.execute('query-status');
    await until(() => statuses().length === 2, "b's query at QEMU");
    answer(0, { status: 'answer-1' });
    answer(1, { status: 'answer-2' });
    assert.deepEqual(await first, { status: 'answer-1' });
    assert.deepEqual(await second, { status: 'answer-2' }, 'b never gets the answer to a query sent before it asked');
    assert.deepEqual(joined, []);
  });

  it('identical queries waiting in the dispatcher at the same moment go to QEMU once', async () => {
    // One command at a time to QEMU: the others wait in the dispatcher.
    const { clients, answer, statuses, held, joined } = await setUp({ maxUpstreamInflight: 1 });
    const [a, b, c] = clients;
    const blocker = a!.execute('query-name'); // occupies the window
    await until(() => held.length === 1, 'the blocker at QEMU');
    const pb = b!.execute('query-status');
    await sleep(20); // b's query waits in the dispatcher
    const pc = c!.execute('query-status');
    await until(() => joined.length === 1, "c joining b's query");
    assert.equal(statuses().length, 0, 'nothing sent yet');
    answer(0, { name: 'vm' });
    assert.deepEqual(await blocker, { name: 'vm' });
    await until(() => statuses().length === 1, 'the shared query at QEMU');
    answer(1, { status: 'shared' });
    assert.deepEqual(await pb, { status: 'shared' });
    assert.deepEqual(await pc, { status: 'shared' });
    // Once it has gone out, the flight is closed: the next one is a query of its own.
    const pa = a!.execute('query-status');
    await until(() => statuses().length === 2, 'the next query at QEMU');
    answer(2, { status: 'later' });
    assert.deepEqual(await pa, { status: 'later' });
    assert.equal(statuses().length, 2, 'three clients, two queries sent');
    assert.deepEqual(joined, ['query-status']);
  });

  it('a query with arguments, or another query, never joins', async () => {
    const { clients, answer, held, joined } = await setUp({ maxUpstreamInflight: 1 });
    const [a, b, c] = clients;
    const blocker = a!.execute('query-name');
    await until(() => held.length === 1, 'the blocker at QEMU');
    const pb = b!.execute('query-block');
    const pc = c!.execute('query-block', { flat: true } as never);
    await sleep(20);
    answer(0, { name: 'vm' });
    await blocker;
    await until(() => held.length === 2, 'query-block');
    answer(1, ['b']);
    await until(() => held.length === 3, 'query-block with arguments');
    answer(2, ['c']);
    assert.deepEqual([await pb, await pc], [['b'], ['c']]);
    assert.deepEqual(joined, []);
  });
});
