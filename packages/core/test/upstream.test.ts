/** The upstream link against a scripted fake QEMU: what real QEMU cannot be made to do on demand. */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClient, QmpError } from '@qmpmux/client';
import { Proxy, createLogger, type UpstreamState } from '../src/index.ts';
import { FakeQemu } from '@qmpmux/fake-qemu';

async function proxyFor(fake: FakeQemu, limits = {}): Promise<{ proxy: Proxy; address: string; states: UpstreamState[] }> {
  const proxy = await Proxy.create({ upstream: fake.address, listen: ['tcp:127.0.0.1:0'], limits: { reconnectMinMs: 20, reconnectMaxMs: 50, ...limits }, log: createLogger('t', 'silent') });
  const states: UpstreamState[] = [];
  proxy.link.state$.subscribe((s) => states.push(s));
  await proxy.start();
  while (proxy.link.state !== 'ready') await sleep(5);
  return { proxy, address: proxy.listeners[0]!.bound, states };
}

describe('upstream link', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('goes through its states in order and reconnects after the link drops', async () => {
    const fake = new FakeQemu();
    await fake.start();
    const { proxy, states } = await proxyFor(fake);
    cleanups.push(() => fake.stop(), () => proxy.stop());
    assert.deepEqual(states, ['idle', 'connecting', 'negotiating', 'ready']);
    fake.dropAll();
    while (proxy.link.state !== 'ready' || states.length < 7) await sleep(5);
    assert.deepEqual(states.slice(4), ['connecting', 'negotiating', 'ready']);
    assert.equal(fake.conns.length, 2);
    assert.deepEqual(fake.conns[1]!.received.map((m) => m.execute), ['qmp_capabilities', 'query-version']);
    assert.deepEqual(fake.conns[1]!.received[0].arguments, { enable: ['oob'] });
  });

  it('drops a stale reply from before a reconnect, and never reuses its id meanwhile', async () => {
    const fake = new FakeQemu();
    await fake.start();
    const { proxy, address } = await proxyFor(fake);
    cleanups.push(() => fake.stop(), () => proxy.stop());
    let staleId: number | undefined;
    fake.onCommand = (fc, msg) => {
      staleId = msg.id; // "executing" when the link drops
      fc.sock.destroy();
    };
    const a = await QmpClient.connect(address);
    await assert.rejects(a.execute<unknown>('slow'), (e: QmpError) => e.desc === 'QEMU monitor connection lost');
    while (proxy.link.state !== 'ready') await sleep(5);
    const seen: number[] = [];
    fake.onCommand = (fc, msg) => {
      seen.push(msg.id);
      // QEMU delivers the finished old command's reply to whoever is connected now, before ours.
      if (seen.length === 1) fc.send(`{"return": {"stale": true}, "id": ${staleId}}`);
      fc.send(`{"return": {"fresh": ${JSON.stringify(msg.execute)}}, "id": ${msg.id}}`);
    };
    const b = await QmpClient.connect(address);
    for (let i = 0; i < 150; i++) assert.deepEqual(await b.execute<unknown>('query-x'), { fresh: 'query-x' });
    assert.notEqual(seen[0], staleId, 'the tombstoned id was not reused before its stale reply came');
    assert.ok(seen.includes(staleId!), 'and was reused once it had come');
    assert.ok(seen.every((id) => id < 100), 'upstream ids stay short');
    b.close();
  });

  it('answers in-flight commands with the link-lost error when the link drops mid-reply, then closes the client', async () => {
    const fake = new FakeQemu();
    await fake.start();
    const { proxy, address } = await proxyFor(fake);
    cleanups.push(() => fake.stop(), () => proxy.stop());
    fake.onCommand = (fc) => {
      fc.sock.write('{"return": {"half'); // a reply cut in the middle
      setTimeout(() => fc.sock.destroy(), 20);
    };
    const c = await QmpClient.connect(address);
    await assert.rejects(c.execute('query-status'), (e: QmpError) => e.desc === 'QEMU monitor connection lost');
    for (let i = 0; i < 50 && !c.closed; i++) await sleep(10);
    assert.ok(c.closed);
  });

  it('lets plugins see the link-lost error of an in-flight command, which still reaches the client', async () => {
    const fake = new FakeQemu();
    await fake.start();
    const seen: { source: string; result: unknown }[] = [];
    const proxy = await Proxy.create({
      upstream: fake.address,
      listen: ['tcp:127.0.0.1:0'],
      limits: { reconnectMinMs: 20, reconnectMaxMs: 50 },
      log: createLogger('t', 'silent'),
      plugins: [
        {
          definition: {
            name: 'recorder',
            validate: () => ({}),
            create: () => ({
              name: 'recorder',
              async onReply(r) {
                seen.push({ source: r.source, result: r.result() });
                return { action: 'replace', return: 'never used' };
              },
            }),
          },
        },
      ],
    });
    cleanups.push(() => fake.stop(), () => proxy.stop());
    await proxy.start();
    while (proxy.link.state !== 'ready') await sleep(5);
    fake.onCommand = (fc) => fc.sock.destroy();
    const c = await QmpClient.connect(proxy.listeners[0]!.bound);
    await assert.rejects(c.execute<unknown>('query-status'), (e: QmpError) => e.desc === 'QEMU monitor connection lost');
    assert.deepEqual(seen, [{ source: 'qmpmux', result: { error: { class: 'GenericError', desc: 'QEMU monitor connection lost' } } }]);
  });

  it('keeps at most maxUpstreamInflight in-band commands in flight, and serves clients round robin', async () => {
    const fake = new FakeQemu();
    await fake.start();
    const { proxy, address } = await proxyFor(fake, { maxUpstreamInflight: 4 });
    cleanups.push(() => fake.stop(), () => proxy.stop());
    const held: { fc: any; msg: any }[] = [];
    let maxHeld = 0;
    fake.onCommand = (fc, msg) => {
      held.push({ fc, msg });
      maxHeld = Math.max(maxHeld, held.length);
    };
    const busy = await QmpClient.connect(address, { oob: true });
    const calm = await QmpClient.connect(address);
    const busyP = Array.from({ length: 8 }, (_, i) => busy.execute<unknown>('busy', { i }));
    await sleep(50);
    const calmP = calm.execute<unknown>('calm');
    await sleep(50);
    // Release one at a time and record the order QEMU saw.
    const order: string[] = [];
    while (order.length < 9) {
      while (!held.length) await sleep(2);
      const { fc, msg } = held.shift()!;
      order.push(msg.execute);
      fc.send(`{"return": {}, "id": ${msg.id}}`);
      await sleep(2);
    }
    await Promise.all([...busyP, calmP]);
    assert.equal(maxHeld, 4, 'never more than 4 in flight upstream');
    assert.ok(order.indexOf('calm') <= 5, `the calm client was not starved: ${order.join(',')}`);
    busy.close();
    calm.close();
  });

  it("bounds a client's exec-oob commands in flight (maxClientOobInflight), then reads on as they are answered", async () => {
    const fake = new FakeQemu();
    await fake.start();
    const { proxy, address } = await proxyFor(fake, { maxClientOobInflight: 5 });
    cleanups.push(() => fake.stop(), () => proxy.stop());
    const held: { fc: any; msg: any }[] = [];
    fake.onCommand = (fc, msg) => held.push({ fc, msg });
    const c = await QmpClient.connect(address, { oob: true });
    const all = Array.from({ length: 20 }, (_, i) => c.execute<unknown>('yank', { i }, { oob: true }));
    await sleep(100);
    assert.equal(held.length, 5, 'only 5 exec-oob commands went upstream');
    let answered = 0;
    while (answered < 20) {
      while (!held.length) await sleep(2);
      const { fc, msg } = held.shift()!;
      assert.ok(msg['exec-oob'], 'sent as exec-oob');
      fc.send(`{"return": {}, "id": ${msg.id}}`);
      answered++;
      await sleep(1);
      assert.ok(held.length <= 5);
    }
    await Promise.all(all);
    c.close();
  });

  it('drops the link when QEMU sends a message beyond maxUpstreamMessageBytes, answering what was in flight', async () => {
    const fake = new FakeQemu();
    await fake.start();
    const { proxy, address } = await proxyFor(fake, { maxUpstreamMessageBytes: 64 * 1024 });
    cleanups.push(() => fake.stop(), () => proxy.stop());
    fake.onCommand = (fc) => fc.sock.write(`{"return": "${'x'.repeat(200 * 1024)}`); // no end in sight
    const c = await QmpClient.connect(address);
    await assert.rejects(c.execute<unknown>('huge'), (e: QmpError) => e.desc === 'QEMU monitor connection lost');
    while (proxy.link.state !== 'ready') await sleep(5);
    assert.equal(fake.conns.length, 2, 'reconnected');
  });

  it('parses a pretty-printing monitor and emits compact replies', async () => {
    const fake = new FakeQemu();
    fake.pretty = true;
    await fake.start();
    const { proxy, address } = await proxyFor(fake);
    cleanups.push(() => fake.stop(), () => proxy.stop());
    fake.onCommand = (fc, msg) => {
      fc.send(`{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}`);
      fc.send(`{"return": {"a": [1, 2], "b": {}}, "id": ${msg.id}}`);
    };
    const c = await QmpClient.connect(address);
    const raws: string[] = [];
    c.messages$.subscribe((m) => raws.push(m.raw.toString()));
    assert.deepEqual(await c.execute<unknown>('x'), { a: [1, 2], b: {} });
    assert.deepEqual(raws.slice(-2), ['{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}', '{"return": {"a": [1, 2], "b": {}}, "id": 2}']);
    c.close();
  });

  it('delivers a flood of 100k events in order to every negotiated client', async () => {
    const fake = new FakeQemu();
    await fake.start();
    const { proxy, address } = await proxyFor(fake);
    cleanups.push(() => fake.stop(), () => proxy.stop());
    const a = await QmpClient.connect(address);
    const b = await QmpClient.connect(address);
    const got = [0, 0];
    let ordered = true;
    [a, b].forEach((c, i) =>
      c.events$.subscribe((e) => {
        if ((e.data as any).n !== got[i]) ordered = false;
        got[i]!++;
      }),
    );
    const lines: string[] = [];
    for (let n = 0; n < 100_000; n++) lines.push(`{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RTC_CHANGE", "data": {"n": ${n}}}\r\n`);
    fake.conns[0]!.sock.write(lines.join(''));
    const deadline = Date.now() + 20_000;
    while ((got[0]! < 100_000 || got[1]! < 100_000) && Date.now() < deadline) await sleep(20);
    assert.deepEqual(got, [100_000, 100_000]);
    assert.ok(ordered, 'in order');
    assert.equal(proxy.lastEventSeq, 100_000);
    a.close();
    b.close();
  });
});
