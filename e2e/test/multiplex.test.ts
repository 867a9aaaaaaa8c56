/** Many clients on one QEMU: ids, order, events, limits, departures. Real QEMU throughout. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClient, QmpError } from '@qmpmux/client';
import { openFdCount, RawClient, startProxy, startQemu, useProxy, type TestProxy, type TestQemu } from '../src/index.ts';

describe('multiplexing many clients onto one QEMU', () => {
  let qemu: TestQemu;
  let mux: TestProxy; // restarted with other limits by some tests
  before(async () => {
    qemu = await startQemu();
    mux = await startProxy(qemu.address);
  });
  after(async () => {
    await mux?.stop();
    await qemu?.stop();
  });

  it('50 clients x 100 pipelined commands with colliding ids each get exactly their replies, in order', async () => {
    const clients = await Promise.all(Array.from({ length: 50 }, (_, i) => RawClient.connect(i % 2 ? mux.unix : mux.tcp)));
    await Promise.all(clients.map((c) => c.count(1)));
    for (const c of clients) c.send('{"execute":"qmp_capabilities"}');
    await Promise.all(clients.map((c) => c.count(2)));
    clients.forEach((c, ci) => {
      let batch = '';
      // Same ids in every client; the replies carry the client's own marker (an error naming the id asked for).
      for (let i = 0; i < 100; i++) {
        batch += i % 3 === 0 ? `{"execute":"query-status","id":${i}}` : `{"execute":"device_del","arguments":{"id":"c${ci}-n${i}"},"id":${i}}`;
      }
      c.send(batch);
    });
    await Promise.all(clients.map((c) => c.count(102, 30_000)));
    clients.forEach((c, ci) => {
      const replies = c.messages.slice(2);
      assert.equal(replies.length, 100);
      replies.forEach((m, i) => {
        const v = m.value as Record<string, any>;
        assert.equal(v.id, i, `client ${ci} reply ${i} in order`);
        if (i % 3 === 0) assert.equal(v.return.status, 'running');
        else assert.equal(v.error.desc, `Device 'c${ci}-n${i}' not found`);
      });
    });
    for (const c of clients) c.close();
  });

  it('events reach every negotiated client and no un-negotiated one, and are not buffered for later', async () => {
    const negotiated = await Promise.all(Array.from({ length: 5 }, () => QmpClient.connect(mux.unix)));
    const waiting = await Promise.all(Array.from({ length: 3 }, () => RawClient.connect(mux.tcp)));
    await Promise.all(waiting.map((c) => c.count(1)));
    const seen = negotiated.map(() => [] as string[]);
    negotiated.forEach((c, i) => c.events$.subscribe((e) => seen[i]!.push(e.event)));
    await negotiated[0]!.execute('stop');
    await negotiated[0]!.execute('cont');
    await sleep(100);
    for (const s of seen) assert.deepEqual(s, ['STOP', 'RESUME']);
    for (const w of waiting) {
      assert.equal(w.messages.length, 1, 'only the greeting before negotiation');
      w.send('{"execute":"qmp_capabilities","id":1}');
      await w.count(2);
    }
    await sleep(100);
    for (const w of waiting) assert.equal(w.messages.length, 2, 'no event replayed after negotiation by the core');
    for (const c of [...negotiated, ...waiting]) c.close();
  });

  it('a client that leaves with commands queued and in flight leaks nothing and disturbs nobody', async () => {
    const other = await QmpClient.connect(mux.unix);
    const leaver = await RawClient.connect(mux.unix);
    await leaver.count(1);
    let batch = '{"execute":"qmp_capabilities"}{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}';
    for (let i = 0; i < 200; i++) batch += `{"execute":"query-status","id":${i}}`;
    leaver.send(batch);
    leaver.conn.destroy();
    for (let i = 0; i < 20; i++) assert.equal(((await other.execute('query-status')) as any).status, 'running');
    await sleep(50);
    assert.equal(mux.proxy.clients.size, 1, 'only the other client remains');
    assert.equal(mux.proxy.link.depths.inflight, 0, 'no upstream command left waiting');
    assert.equal(mux.proxy.link.depths.sources, 0, 'nothing queued for the departed client');
    other.close();
  });

  it('a message larger than maxMessageBytes is refused with a clear error and a disconnect, and never reaches QEMU', async () => {
    const big = await RawClient.connect(mux.unix);
    await big.count(1);
    big.send('{"execute":"qmp_capabilities"}');
    await big.count(2);
    const t0 = Date.now();
    big.send(`{"execute":"query-name","id":"${'x'.repeat(2 * 1024 * 1024)}"}`);
    await big.until(() => big.closed, 10_000, 'disconnect');
    const err = big.messages[2]!.value as any;
    assert.match(err.error.desc, /message exceeds the limit of 1048576 bytes \(maxMessageBytes\)/);
    assert.equal(err.id, undefined);
    const c = await QmpClient.connect(mux.unix);
    assert.equal(((await c.execute('query-status')) as any).status, 'running');
    // QEMU reads ~0.35 MB/s: had 2 MiB been forwarded, this would have taken seconds.
    assert.ok(Date.now() - t0 < 3000, `QEMU stayed responsive (${Date.now() - t0} ms)`);
    c.close();
  });

  it('20 MiB of garbage from one client does not disturb the others', async () => {
    const victim = await QmpClient.connect(mux.tcp);
    const garbage = await RawClient.connect(mux.unix);
    await garbage.count(1);
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 7919) % 251; // bytes of every kind
    for (let i = 0; i < 20; i++) garbage.send(chunk);
    const replies = [];
    for (let i = 0; i < 50; i++) replies.push(await victim.execute('query-name'));
    assert.equal(replies.length, 50);
    await garbage.until(() => garbage.closed || garbage.messages.length > 100, 20_000, 'garbage answered');
    garbage.conn.destroy();
    assert.ok(garbage.messages.slice(1).every((m) => 'error' in (m.value as object)), 'garbage only ever got errors');
    assert.deepEqual(await victim.execute('query-name'), {});
    victim.close();
  });

  it('a client that never reads is disconnected when its output buffer is full, without slowing the others', async () => {
    await mux.stop();
    mux = await startProxy(qemu.address, { limits: { maxClientOutputBytes: 256 * 1024 } });
    const fast = await QmpClient.connect(mux.unix);
    const slow = await RawClient.connect(mux.unix);
    await slow.count(1);
    slow.send('{"execute":"qmp_capabilities"}');
    await slow.count(2);
    slow.conn.pause(); // never reads again
    for (let i = 0; i < 40; i++) slow.send('{"execute":"query-qmp-schema"}'); // ~200 KB each
    let events = 0;
    fast.events$.subscribe(() => events++);
    const t0 = Date.now();
    for (let i = 0; i < 100; i++) {
      await fast.execute('stop');
      await fast.execute('cont');
    }
    const ms = Date.now() - t0;
    await sleep(100);
    assert.equal(events, 200, 'the reading client got every event');
    const deadline = Date.now() + 10_000;
    while (mux.proxy.clients.size > 1 && Date.now() < deadline) await sleep(20);
    assert.equal(mux.proxy.clients.size, 1, 'the non-reading client was disconnected');
    assert.ok(ms < 20_000, `200 commands took ${ms} ms`);
    fast.close();
  });

  it('more than maxClients connections are refused with a clear message', async () => {
    await mux.stop();
    mux = await startProxy(qemu.address, { limits: { maxClients: 3 } });
    const ok = await Promise.all([1, 2, 3].map(() => QmpClient.connect(mux.unix)));
    const extra = await RawClient.connect(mux.unix);
    await extra.until(() => extra.closed, 5000, 'refusal');
    assert.equal((extra.messages[0]!.value as any).error.desc, 'qmpmux: too many clients (maxClients=3)');
    for (const c of ok) c.close();
  });

  it('1000 connect/disconnect cycles leave the open-fd counts of qmpmux and QEMU flat', async () => {
    await mux.stop();
    mux = await startProxy(qemu.address);
    const cycle = async (i: number) => {
      const c = await QmpClient.connect(i % 2 ? mux.unix : mux.tcp);
      await c.execute('query-status');
      c.close();
      await new Promise<void>((r) => {
        const t = setInterval(() => c.closed && (clearInterval(t), r()), 1);
      });
    };
    for (let i = 0; i < 20; i++) await cycle(i); // warm up
    await sleep(100);
    const before = { mux: openFdCount(), qemu: openFdCount(qemu.pid) };
    for (let i = 0; i < 1000; i += 10) await Promise.all(Array.from({ length: 10 }, (_, k) => cycle(i + k)));
    const deadline = Date.now() + 5000;
    while (mux.proxy.clients.size && Date.now() < deadline) await sleep(10);
    await sleep(100);
    assert.deepEqual({ mux: openFdCount(), qemu: openFdCount(qemu.pid) }, before);
    assert.equal(mux.proxy.clients.size, 0);
  });
});

describe('when QEMU goes away', () => {
  const { qemu, mux } = useProxy({ limits: { upstreamWaitMs: 5_000, reconnectMaxMs: 200 } });

  it('in-flight commands get an error, clients are closed, and new clients work after QEMU restarts', async () => {
    const a = await QmpClient.connect(mux.unix);
    const b = await RawClient.connect(mux.tcp);
    await b.count(1);
    b.send('{"execute":"qmp_capabilities"}');
    await b.count(2);
    process.kill(qemu.pid, 'SIGSTOP'); // QEMU cannot answer: the next commands stay in flight
    const pa = a.execute('query-status').then(
      () => 'answered',
      (e: QmpError) => e.desc,
    );
    b.send('{"execute":"query-status","id":"b1"}');
    await sleep(200);
    await qemu.kill();
    assert.equal(await pa, 'QEMU monitor connection lost');
    await b.until(() => b.closed, 5000, 'close');
    assert.equal(b.messages[2]!.raw, '{"id": "b1", "error": {"class": "GenericError", "desc": "QEMU monitor connection lost"}}');
    for (let i = 0; i < 100 && !a.closed; i++) await sleep(20);
    assert.ok(a.closed, 'the other client was closed too');

    // A client connecting while QEMU is down waits (bounded) and is greeted once QEMU is back.
    const early = QmpClient.connect(mux.unix);
    await sleep(300);
    await qemu.restart();
    const c = await early;
    assert.equal(((await c.execute('query-status')) as any).status, 'running');
    const d = await QmpClient.connect(mux.tcp);
    assert.deepEqual(await d.execute('query-name'), {});
    c.close();
    d.close();
  });

  it('a client that connects while QEMU stays down is refused with a clear message after upstreamWaitMs', async () => {
    await qemu.kill();
    const t0 = Date.now();
    const r = await RawClient.connect(mux.unix);
    await r.until(() => r.closed, 10_000, 'refusal');
    const ms = Date.now() - t0;
    assert.match((r.messages[0]!.value as any).error.desc, /^qmpmux: QEMU monitor unavailable \(/);
    assert.ok(ms >= 4_500, `waited ${ms} ms`);
    await qemu.restart();
  });
});
