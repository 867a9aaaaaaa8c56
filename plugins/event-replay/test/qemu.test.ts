/** event-replay against a real QEMU (-M none): STOP/RESUME (stop/cont), RESET (system_reset), SHUTDOWN (quit). */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startQemu, startProxy, waitReady, type TestQemu, type TestProxy } from '@qmpmux/e2e';
import { QmpClient } from '@qmpmux/client';
import type { PluginSpec } from '@qmpmux/core';
import { eventReplayPlugin } from '../src/index.ts';
import { decodeRecords, MAGIC } from '../src/codec.ts';
import { MAX_UNFLUSHED } from '../src/journal.ts';
import { LAST, events, join as joinAs, principalByTransport, run, splitAt } from './helpers.ts';

let qemu: TestQemu;
before(async () => {
  qemu = await startQemu();
});
after(async () => {
  await qemu.stop();
});

const replayPlugin = (options: object = {}): PluginSpec => ({ definition: eventReplayPlugin, options });

/** Run these commands one after another through a control client. */
async function produce(ctl: QmpClient, commands: string[]): Promise<void> {
  for (const c of commands) await ctl.execute(c);
}

describe('event-replay with a real QEMU', () => {
  let px: TestProxy;
  let ctl: QmpClient;
  let watcher: Awaited<ReturnType<typeof joinAs>>['c'];

  before(async () => {
    px = await startProxy(qemu.address, { plugins: [replayPlugin()] });
    ({ c: watcher } = await joinAs(px.unix));
    ctl = await QmpClient.connect(px.unix);
  });
  after(async () => {
    ctl.close();
    watcher.close();
    await px.stop();
  });

  it('replays STOP, RESUME and RESET to a client that joins later, with their original bytes, before the reply', async () => {
    await produce(ctl, ['stop', 'cont', 'system_reset']);
    await watcher.until(() => events(watcher).length === 3);
    const seen = events(watcher);
    assert.deepEqual(
      seen.map((r) => JSON.parse(r).event),
      ['STOP', 'RESUME', 'RESET'],
    );
    const { c, reply } = await joinAs(px.unix, { 'since-seq': 0 });
    assert.deepEqual(reply, { 'first-seq': 1, 'last-seq': 3, count: 3, skipped: 0, lost: false });
    assert.deepEqual(splitAt(c, '"replay"').before, seen);
    c.close();
  });

  it('filters by names and by QEMU time', async () => {
    const seen = events(watcher);
    const { c, reply } = await joinAs(px.unix, { names: ['RESET', 'STOP'] });
    assert.equal(reply!.count, 2);
    assert.deepEqual(splitAt(c, '"replay"').before, [seen[0], seen[2]]);
    c.close();
    const ts = JSON.parse(seen[1]!).timestamp as { seconds: number; microseconds: number };
    const t = await joinAs(px.unix, { 'since-time': ts.seconds + ts.microseconds / 1e6 });
    assert.deepEqual(splitAt(t.c, '"replay"').before, seen.slice(1));
    assert.equal(t.reply!['first-seq'], 2);
    t.c.close();
  });

  it('a client that reconnects with its last seen seq gets exactly the missed events, then live ones', async () => {
    const first = await joinAs(px.unix, { 'since-seq': 0 });
    const lastSeen = first.reply!['last-seq'];
    first.c.close();
    await produce(ctl, ['stop', 'cont', 'system_reset']);
    await watcher.until(() => events(watcher).length === lastSeen + 3);
    const again = await joinAs(px.unix, { 'since-seq': lastSeen });
    assert.deepEqual(again.reply, { 'first-seq': lastSeen + 1, 'last-seq': lastSeen + 3, count: 3, skipped: 0, lost: false });
    assert.deepEqual(splitAt(again.c, '"replay"').before, events(watcher).slice(lastSeen));
    await produce(ctl, ['stop']);
    await again.c.until(() => events(again.c).length === 4);
    await watcher.until(() => events(watcher).length === lastSeen + 4);
    assert.deepEqual(splitAt(again.c, '"replay"').after, events(watcher).slice(lastSeen + 3));
    // Asking again sends nothing twice: the client has had all of them.
    const r = await run(again.c, '__org.qmpmux_replay-events', { 'since-seq': lastSeen });
    assert.deepEqual(r.return, { 'first-seq': lastSeen + 1, 'last-seq': lastSeen + 4, count: 0, skipped: 4, lost: false });
    assert.equal(events(again.c).length, 4);
    await ctl.execute('cont');
    again.c.close();
  });

  it('keeps the latest event per name as state', async () => {
    await watcher.until(() => events(watcher).length === 8);
    const r = await run(watcher, LAST);
    const byName = Object.fromEntries((r.return as { event: string; seq: number; data?: unknown }[]).map((e) => [e.event, e]));
    assert.deepEqual(Object.keys(byName).sort(), ['RESET', 'RESUME', 'STOP']);
    assert.equal(byName.RESUME.seq, 8);
    assert.equal(byName.STOP.seq, 7);
    assert.equal(byName.RESET.seq, 6);
    assert.deepEqual(byName.RESET.data, { guest: false, reason: 'host-qmp-system-reset' });
    const only = await run(watcher, LAST, { names: ['STOP'] });
    assert.deepEqual(
      (only.return as { event: string }[]).map((e) => e.event),
      ['STOP'],
    );
  });

  it('answers bad arguments with QEMU-style errors', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ 'since-seq': 'x' }, "Invalid parameter type for 'since-seq', expected: integer"],
      [{ 'since-seq': 1.5 }, "Invalid parameter type for 'since-seq', expected: integer"],
      [{ 'since-time': 'now' }, "Invalid parameter type for 'since-time', expected: number"],
      [{ names: 'STOP' }, "Invalid parameter type for 'names', expected: array"],
      [{ names: ['STOP', 7] }, "Invalid parameter type for 'names[1]', expected: string"],
      [{ 'since-seq': 1, bogus: true }, "Parameter 'bogus' is unexpected"],
      [{ 'since-seq': -1 }, "Parameter 'since-seq' expects a non-negative integer"],
      [{ 'since-seq': 1, 'since-time': 2 }, "Parameters 'since-seq' and 'since-time' are mutually exclusive"],
    ];
    for (const [args, desc] of cases) {
      const r = await run(watcher, '__org.qmpmux_replay-events', args as never);
      assert.deepEqual(r.error, { class: 'GenericError', desc }, JSON.stringify(args));
    }
    const r = await run(watcher, LAST, { name: ['STOP'] });
    assert.deepEqual(r.error, { class: 'GenericError', desc: "Parameter 'name' is unexpected" });
  });
});

describe('the handover under a burst of live events', () => {
  let px: TestProxy;
  before(async () => {
    px = await startProxy(qemu.address, { plugins: [{ definition: principalByTransport }, replayPlugin({ autoReplay: [{ principals: ['late'] }] })] });
  });
  after(async () => {
    await px.stop();
  });

  it('gives no gap and no duplicate, whether the replay is asked for or automatic', async () => {
    const { c: always } = await joinAs(px.unix);
    const ctl = await QmpClient.connect(px.unix);
    // stop/cont in a loop until every joiner is in, then 20 rounds more: each joiner meets live events.
    let joined = false;
    const burst = (async () => {
      let extra = 20;
      while (!joined || extra-- > 0) await produce(ctl, ['stop', 'cont']);
    })();
    // Joiners during the burst: asked-for replays (a little in the past), and automatic ones (TCP = "late").
    const asked: { c: typeof always; since: number; count: number; lastSeq: number }[] = [];
    const auto: (typeof always)[] = [];
    for (const at of [20, 80, 160, 240]) {
      await always.until(() => events(always).length >= at, 20_000);
      const since = events(always).length - 10;
      const { c, reply } = await joinAs(px.unix, { 'since-seq': since });
      assert.equal(reply!.skipped, 0);
      assert.equal(reply!.lost, false);
      asked.push({ c, since, count: reply!.count, lastSeq: reply!['last-seq'] });
      auto.push((await joinAs(px.tcp)).c);
    }
    joined = true;
    await burst;
    const total = px.proxy.lastEventSeq;
    await always.until(() => events(always).length === total, 20_000);
    const all = events(always);
    assert.equal(new Set(all).size, total, 'every event is distinct by its bytes (timestamps)');
    for (const a of asked) {
      await a.c.until(() => events(a.c).at(-1) === all.at(-1), 20_000);
      assert.deepEqual(events(a.c), all.slice(a.since), `asked replay since ${a.since}`);
      assert.ok(a.count >= 10);
      assert.equal(a.lastSeq, a.since + a.count);
      const { before, after } = splitAt(a.c, '"replay"');
      assert.equal(before.length, a.count, 'replayed events come before the reply');
      assert.ok(after.length >= 40, 'live events after it');
    }
    for (const c of auto) {
      await c.until(() => events(c).at(-1) === all.at(-1), 20_000);
      assert.deepEqual(events(c), all, 'automatic replay on negotiation, then live');
      assert.ok(splitAt(c, '"cap"').after.length > 0);
    }
    for (const c of [always, ...asked.map((a) => a.c), ...auto]) c.close();
    ctl.close();
  });

  it('a replay asked for after live events reached the client keeps order: what it already had is skipped, not resent', async () => {
    const { c: always } = await joinAs(px.unix);
    const since = px.proxy.lastEventSeq;
    const ctl = await QmpClient.connect(px.unix);
    let stop = false;
    const burst = (async () => {
      while (!stop) await produce(ctl, ['stop', 'cont']);
    })();
    await always.until(() => events(always).length >= 20);
    const late = await joinAs(px.unix);
    await late.c.until(() => events(late.c).length >= 4); // live events first
    const r = await run(late.c, '__org.qmpmux_replay-events', { 'since-seq': since });
    stop = true;
    await burst;
    const total = px.proxy.lastEventSeq - since;
    await always.until(() => events(always).length === total);
    await late.c.until(() => events(late.c).length > 0 && events(late.c).at(-1) === events(always).at(-1));
    const all = events(always);
    const got = events(late.c);
    const start = all.indexOf(got[0]!);
    assert.ok(start > 0);
    assert.deepEqual(got, all.slice(start), 'a contiguous tail of the stream: no duplicate, no reordering');
    assert.equal(r.return.count + r.return.skipped, r.return['last-seq'] - since);
    late.c.close();
    always.close();
    ctl.close();
  });
});

describe('negotiation and auto replay', () => {
  it('sends nothing before qmp_capabilities; replays by principal and names right after it', async () => {
    const px = await startProxy(qemu.address, {
      plugins: [{ definition: principalByTransport }, replayPlugin({ autoReplay: [{ principals: ['late'], names: ['STOP', 'RESET'] }] })],
    });
    try {
      const { c: always } = await joinAs(px.unix);
      const ctl = await QmpClient.connect(px.unix);
      const { RawClient } = await import('@qmpmux/e2e');
      const early = await RawClient.connect(px.tcp); // principal "late", not negotiated yet
      await early.count(1);
      await produce(ctl, ['stop', 'cont', 'system_reset']);
      await always.until(() => events(always).length === 3);
      const seen = events(always);
      assert.equal(early.messages.length, 1, 'only the greeting before negotiation');
      early.send('{"execute":"qmp_capabilities","id":"cap"}');
      await early.until(() => events(early).length === 2);
      const { before, after } = splitAt(early, '"cap"');
      assert.deepEqual(before, []);
      assert.deepEqual(after, [seen[0], seen[2]]);
      const ops = await joinAs(px.unix); // principal "ops": no rule
      await run(ops.c, 'query-status');
      assert.deepEqual(events(ops.c), []);
      for (const c of [always, early, ops.c]) c.close();
      ctl.close();
    } finally {
      await px.stop();
    }
  });
});

describe('the journal', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'qmpmux-journal-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const journal = () => replayPlugin({ journal: { dir, segmentBytes: 4096, maxSegments: 4 } });
  const segments = () => readdirSync(dir).filter((n) => n.endsWith('.qmj')).sort();

  it('keeps history across a qmpmux restart, and numbering continues after it', async () => {
    const p1 = await startProxy(qemu.address, { plugins: [journal()] });
    const { c: always } = await joinAs(p1.unix);
    const ctl = await QmpClient.connect(p1.unix);
    await produce(ctl, ['stop', 'cont', 'system_reset']);
    await always.until(() => events(always).length === 3);
    const seen = events(always);
    ctl.close();
    always.close();
    await p1.stop();

    const p2 = await startProxy(qemu.address, { plugins: [journal()] });
    try {
      const { c, reply } = await joinAs(p2.unix, { 'since-seq': 0 });
      assert.deepEqual(reply, { 'first-seq': 1, 'last-seq': 3, count: 3, skipped: 0, lost: false });
      assert.deepEqual(splitAt(c, '"replay"').before, seen);
      const ctl2 = await QmpClient.connect(p2.unix);
      await ctl2.execute('stop');
      await c.until(() => events(c).length === 4);
      const next = await joinAs(p2.unix, { 'since-seq': 3 });
      assert.deepEqual(next.reply, { 'first-seq': 4, 'last-seq': 4, count: 1, skipped: 0, lost: false });
      const last = await run(next.c, LAST, { names: ['RESET'] });
      assert.equal(last.return[0].seq, 3, 'state survives the restart');
      await ctl2.execute('cont');
      await c.until(() => events(c).length === 5);
      ctl2.close();
      c.close();
      next.c.close();
    } finally {
      await p2.stop();
    }
  });

  it('cuts a torn tail after a crash, never replays it, and skips the seqs it may have held', async () => {
    const segs = segments();
    const tail = join(dir, segs[segs.length - 1]!);
    const buf = readFileSync(tail);
    const { records, ends } = decodeRecords(buf, MAGIC.length);
    assert.equal(records[records.length - 1]!.kind, 'close');
    assert.equal(records[records.length - 2]!.kind, 'event');
    // As if the process died halfway through writing the last event (seq 5): no close mark either.
    const cut = ends[ends.length - 2]! - 7;
    truncateSync(tail, cut);
    const p3 = await startProxy(qemu.address, { plugins: [journal()] });
    try {
      const goodEnd = ends[ends.length - 3]!;
      assert.equal(statSync(tail).size, goodEnd, 'the torn record was cut off the file');
      const { c, reply } = await joinAs(p3.unix, { 'since-seq': 0 });
      assert.equal(reply!.count, 4);
      assert.equal(reply!['last-seq'], 4 + MAX_UNFLUSHED, 'numbering continues after a gap');
      assert.equal(reply!.lost, true, 'the events that may have been lost are reported');
      const ok = await joinAs(p3.unix, { 'since-seq': 4 + MAX_UNFLUSHED });
      assert.equal(ok.reply!.lost, false);
      const ctl = await QmpClient.connect(p3.unix);
      await ctl.execute('stop');
      await c.until(() => events(c).length === 5);
      const after = await joinAs(p3.unix, { 'since-seq': 4 + MAX_UNFLUSHED });
      assert.deepEqual(after.reply, { 'first-seq': 5 + MAX_UNFLUSHED, 'last-seq': 5 + MAX_UNFLUSHED, count: 1, skipped: 0, lost: false });
      await ctl.execute('cont');
      ctl.close();
      for (const x of [c, ok.c, after.c]) x.close();
    } finally {
      await p3.stop();
    }
    // Garbage after the last record (a damaged tail) is cut as well.
    const size = statSync(tail).size;
    appendFileSync(tail, Buffer.from('\x10\x00\x00\x00garbage-garbage-garbage'));
    const p4 = await startProxy(qemu.address, { plugins: [journal()] });
    try {
      assert.equal(statSync(tail).size, size);
      const { reply } = await joinAs(p4.unix, { 'since-seq': 0 });
      assert.equal(reply!.count, 6);
    } finally {
      await p4.stop();
    }
  });

  it('refuses a journal directory another live instance holds', async () => {
    const p = await startProxy(qemu.address, { plugins: [journal()] });
    try {
      await assert.rejects(startProxy(qemu.address, { plugins: [journal()] }), /already open in this process/);
    } finally {
      await p.stop();
    }
  });
});

describe('SHUTDOWN', () => {
  it('is kept when QEMU quits, and replayed to clients of the restarted QEMU', async () => {
    const px = await startProxy(qemu.address, { plugins: [replayPlugin()], limits: { reconnectMinMs: 20, reconnectMaxMs: 100 } });
    try {
      const { c: always } = await joinAs(px.unix);
      const ctl = await QmpClient.connect(px.unix);
      await ctl.execute('quit');
      await always.until(() => always.closed && events(always).length === 1);
      const shutdown = events(always)[0]!;
      assert.deepEqual(JSON.parse(shutdown).data, { guest: false, reason: 'host-qmp-quit' });
      await qemu.restart();
      await waitReady(px.proxy);
      const { c, reply } = await joinAs(px.unix, { names: ['SHUTDOWN'] });
      assert.equal(reply!.count, 1);
      assert.deepEqual(splitAt(c, '"replay"').before, [shutdown]);
      const last = await run(c, LAST, { names: ['SHUTDOWN'] });
      assert.equal(last.return[0].data.reason, 'host-qmp-quit');
      c.close();
    } finally {
      await px.stop();
    }
  });
});
