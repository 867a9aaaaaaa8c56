/** event-replay against a scripted QMP server, for events -M none cannot produce and for a flood. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy, type TestProxy } from '@qmpmux/e2e';
import { QmpClient } from '@qmpmux/client';
import { filter, take } from 'rxjs';
import { FakeQemu } from '@qmpmux/fake-qemu';
import { eventReplayPlugin } from '../src/index.ts';
import { LAST, events, join, principalByTransport, run, splitAt } from './helpers.ts';

const BASE = 1795567170;
const ev = (name: string, us: number, data?: object) =>
  `{"timestamp": {"seconds": ${BASE + Math.floor(us / 1e6)}, "microseconds": ${us % 1e6}}, "event": "${name}"${data ? `, "data": ${JSON.stringify(data).replace(/":/g, '": ').replace(/,"/g, ', "')}` : ''}}`;

describe('events -M none cannot produce', () => {
  let fake: FakeQemu;
  let px: TestProxy;
  const script = [
    ev('RTC_CHANGE', 1, { offset: 1, 'qom-path': '/machine/unattached/device[3]' }),
    ev('VSERPORT_CHANGE', 2, { id: 'channel0', open: true }),
    ev('RTC_CHANGE', 3, { offset: 2, 'qom-path': '/machine/unattached/device[3]' }),
    ev('VSERPORT_CHANGE', 4, { id: 'channel1', open: true }),
    ev('VFU_CLIENT_HANGUP', 5, { 'vfu-id': 'vfu1', 'vfu-qom-path': '/objects/vfu1', 'dev-id': 'sas1', 'dev-qom-path': '/machine/peripheral/sas1' }),
    ev('QUORUM_REPORT_BAD', 6, { type: 'read', 'node-name': 'q0', 'sector-num': 0, 'sectors-count': 8 }),
    ev('VSERPORT_CHANGE', 7, { id: 'channel0', open: false }),
    ev('RTC_CHANGE', 8, { offset: -3600, 'qom-path': '/machine/unattached/device[3]' }),
    ev('MEMORY_DEVICE_SIZE_CHANGE', 9, { id: 'vm0', size: 1073741824, 'qom-path': '/machine/peripheral/vm0' }),
  ];
  let all: string[];

  before(async () => {
    fake = new FakeQemu();
    await fake.start();
    px = await startProxy(fake.address, {
      plugins: [
        { definition: principalByTransport },
        { definition: eventReplayPlugin, options: { autoReplay: [{ principals: ['late'], mode: 'latest', names: ['RTC_CHANGE', 'VSERPORT_CHANGE'] }] } },
      ],
    });
    const { c } = await join(px.unix);
    fake.conns[0]!.send(script.join('\r\n'));
    await c.until(() => events(c).length === script.length);
    all = events(c);
    assert.deepEqual(all, script);
    c.close();
  });
  after(async () => {
    await px.stop();
    await fake.stop();
  });

  it('keeps the latest event per (name, throttle key) as state', async () => {
    const { c } = await join(px.unix);
    const r = await run(c, LAST);
    assert.deepEqual(
      (r.return as { event: string; seq: number; key?: string }[]).map((e) => [e.event, e.seq, e.key]),
      [
        ['VSERPORT_CHANGE', 4, 'channel1'],
        ['VFU_CLIENT_HANGUP', 5, undefined],
        ['QUORUM_REPORT_BAD', 6, 'q0'],
        ['VSERPORT_CHANGE', 7, 'channel0'],
        ['RTC_CHANGE', 8, undefined],
        ['MEMORY_DEVICE_SIZE_CHANGE', 9, '/machine/peripheral/vm0'],
      ],
    );
    const rtc = await run(c, LAST, { names: ['RTC_CHANGE'] });
    assert.deepEqual(rtc.return, [
      { event: 'RTC_CHANGE', seq: 8, timestamp: { seconds: BASE, microseconds: 8 }, data: { offset: -3600, 'qom-path': '/machine/unattached/device[3]' } },
    ]);
    c.close();
  });

  it('replays latest-per-key state on negotiation when configured so, oldest first, with original bytes', async () => {
    const { c } = await join(px.tcp);
    await run(c, 'query-status');
    assert.deepEqual(splitAt(c, '"cap"').after, [script[3], script[6], script[7]]);
    // Older history can no longer follow without breaking order: it is counted as skipped, not sent.
    const r = await run(c, '__org.qmpmux_replay-events', { names: ['VFU_CLIENT_HANGUP'] });
    assert.deepEqual(r.return, { 'first-seq': 1, 'last-seq': 9, count: 0, skipped: 1, lost: false });
    assert.equal(events(c).length, 3);
    c.close();
  });

  it('replays any event by name, with its original bytes', async () => {
    const { c, reply } = await join(px.unix, { names: ['VFU_CLIENT_HANGUP', 'QUORUM_REPORT_BAD'] });
    assert.deepEqual(reply, { 'first-seq': 1, 'last-seq': 9, count: 2, skipped: 0, lost: false });
    assert.deepEqual(splitAt(c, '"replay"').before, [script[4], script[5]]);
    c.close();
  });

  it('treats a seq this numbering never reached as lost (qmpmux restarted without a journal)', async () => {
    const { c } = await join(px.unix);
    const r = await run(c, '__org.qmpmux_replay-events', { 'since-seq': 123456789 });
    assert.equal(r.return.lost, true);
    assert.equal(r.return['first-seq'], 1);
    c.close();
  });
});

describe('a flood', () => {
  it('keeps the ring within its count and byte bounds over 100k events', async () => {
    const fake = new FakeQemu();
    await fake.start();
    const maxEvents = 300;
    const maxBytes = 64 * 1024;
    const px = await startProxy(fake.address, {
      tcp: false,
      limits: { maxClientOutputBytes: 256 * 1024 * 1024 },
      plugins: [{ definition: eventReplayPlugin, options: { maxEvents, maxBytes } }],
    });
    try {
      // A client reads the whole flood (the output bound is raised: the default would rightly drop a
      // client this far behind); it has every event once all hooks ran.
      const watcher = await QmpClient.connect(px.unix);
      const N = 100_000;
      let seen = 0;
      watcher.events$.subscribe(() => seen++);
      const allSeen = watcher.events$.pipe(filter(() => seen === N), take(1)).forEach(() => {});
      const t0 = process.hrtime.bigint();
      const pad = (i: number) => 'x'.repeat((i * 37) % 400); // large events (0..399 bytes of padding)
      for (let i = 0; i < N; i += 1000) {
        const chunk: string[] = [];
        for (let j = i; j < i + 1000; j++) chunk.push(ev('RTC_CHANGE', j, { offset: j, 'qom-path': `/machine/${pad(j)}` }));
        fake.conns[0]!.send(chunk.join('\r\n'));
      }
      await allSeen;
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const held = await replayAll(px.unix);
      assert.ok(held.count < maxEvents && held.bytes <= maxBytes, `large events: the byte bound binds (${held.count} events, ${held.bytes} bytes)`);
      assert.ok(held.count > 100, 'not emptied either');
      checkNewest(held, N);
      // Then small ones: the count bound binds.
      const M = 1000;
      const small: string[] = [];
      for (let j = N; j < N + M; j++) small.push(ev('RTC_CHANGE', j, { offset: j }));
      fake.conns[0]!.send(small.join('\r\n'));
      await watcher.events$.pipe(filter(() => seen === N + M), take(1)).forEach(() => {});
      const held2 = await replayAll(px.unix);
      assert.equal(held2.count, maxEvents, `small events: the count bound binds (${held2.bytes} bytes)`);
      assert.ok(held2.bytes <= maxBytes);
      checkNewest(held2, N + M);
      const { c } = await join(px.unix);
      const latest = await run(c, LAST);
      assert.equal(latest.return.length, 1, 'one RTC_CHANGE state entry');
      assert.equal(latest.return[0].data.offset, N + M - 1);
      const tail = await join(px.unix, { 'since-seq': N + M - 10 });
      assert.deepEqual(tail.reply, { 'first-seq': N + M - 9, 'last-seq': N + M, count: 10, skipped: 0, lost: false });
      console.log(`# flood: ${N} events through qmpmux to one client in ${ms.toFixed(0)} ms; ring then held ${held.count} events / ${held.bytes} bytes, after ${M} small ones ${held2.count} / ${held2.bytes}`);
      watcher.close();
      c.close();
      tail.c.close();
    } finally {
      await px.stop();
      await fake.stop();
    }
  });
});

/** Replay everything held to a new client: the events' bytes (as sent, line end included) and the reply. */
async function replayAll(address: string) {
  const { c, reply } = await join(address, { 'since-seq': 0 });
  const held = splitAt(c, '"replay"').before;
  c.close();
  assert.equal(held.length, reply!.count);
  return { ...reply!, held, bytes: held.reduce((n, r) => n + Buffer.byteLength(r) + 2, 0) };
}

/** The held events are the newest ones, contiguous up to `last`, and the older ones are reported lost. */
function checkNewest(h: Awaited<ReturnType<typeof replayAll>>, last: number): void {
  assert.equal(h.lost, true);
  assert.equal(h['last-seq'], last);
  assert.equal(h['first-seq'], last - h.count + 1);
  assert.deepEqual(
    h.held.map((r) => JSON.parse(r).data.offset),
    Array.from({ length: h.count }, (_, k) => last - h.count + k),
  );
}
