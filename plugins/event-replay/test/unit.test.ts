/** The parts without sockets: record codec (bytes straight in), ring bounds, state keys, arguments, journal files. */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import { createLogger, ConfigError, type QmpEvent } from '@qmpmux/core';
import { MAGIC, decodeRecords, encodeRecord, type JournalRecord } from '../src/codec.ts';
import { EventRing } from '../src/ring.ts';
import { LastEvents, THROTTLE_KEYS } from '../src/state.ts';
import { StoredEvent } from '../src/stored-event.ts';
import { EventHistory } from '../src/history.ts';
import { MAX_UNFLUSHED } from '../src/journal.ts';
import { validateOptions, DEFAULTS, type EventReplayOptions } from '../src/options.ts';

const quiet = createLogger('test', 'silent');
const T0 = 1_795_567_170_000; // ms

function qmpEvent(seq: number, name: string, data?: object, us = seq): QmpEvent {
  const text = `{"timestamp": {"seconds": ${1795567170 + Math.floor(us / 1e6)}, "microseconds": ${us % 1e6}}, "event": "${name}"${data ? `, "data": ${JSON.stringify(data)}` : ''}}\r\n`;
  const raw = Buffer.from(text, 'latin1');
  return { seq, name, raw, value: () => JSON.parse(text) };
}
const stored = (seq: number, name = 'STOP', data?: object, at = T0) => StoredEvent.fromLive(qmpEvent(seq, name, data), at);

describe('record codec', () => {
  const records: JournalRecord[] = [
    { kind: 'state', seq: 3, at: T0, name: 'RTC_CHANGE', raw: Buffer.from('{"a": 1}\r\n') },
    { kind: 'event', seq: 7, at: T0 + 1, name: 'STOP', raw: Buffer.from('{"b": 2}\r\n') },
    { kind: 'event', seq: 8, at: T0 + 2, name: 'RESUME', raw: Buffer.alloc(1000, 0x78) },
    { kind: 'close', seq: 9, at: T0 + 3 },
  ];
  const bytes = Buffer.concat(records.map(encodeRecord));

  it('reads back what it wrote', () => {
    const r = decodeRecords(bytes, 0);
    assert.equal(r.damage, undefined);
    assert.equal(r.end, bytes.length);
    assert.deepEqual(r.records, records);
  });

  it('never yields garbage from a torn tail: cut at any byte, it reads whole records only', () => {
    const r0 = decodeRecords(bytes, 0);
    for (let cut = 0; cut < bytes.length; cut++) {
      const r = decodeRecords(bytes.subarray(0, cut), 0);
      const whole = r0.ends.filter((e) => e <= cut).length;
      assert.equal(r.records.length, whole, `cut at ${cut}`);
      assert.deepEqual(r.records, records.slice(0, whole));
      assert.equal(r.end, whole ? r0.ends[whole - 1] : 0);
      assert.equal(r.damage === undefined, r.end === cut, `cut at ${cut}: damage is reported exactly when bytes are left over`);
    }
  });

  it('stops at a flipped bit (checksum), a bad length, or a payload that is not a record', () => {
    const r0 = decodeRecords(bytes, 0);
    for (const at of [r0.ends[0]! + 10, r0.ends[1]! + 100]) {
      const bad = Buffer.from(bytes);
      bad[at]! ^= 0x04;
      const r = decodeRecords(bad, 0);
      assert.match(r.damage!, /checksum mismatch/);
      assert.ok(r.end < at);
    }
    const huge = Buffer.from(bytes);
    huge.writeUInt32LE(0xfffffff0, r0.ends[0]!);
    assert.match(decodeRecords(huge, 0).damage!, /bad record length/);
    // A well-framed payload that is not one of ours.
    const payload = Buffer.from([0x93, 0x07, 0x01, 0x02]); // msgpack [7, 1, 2]
    const head = Buffer.alloc(8);
    head.writeUInt32LE(payload.length, 0);
    head.writeUInt32LE(crc32(payload), 4);
    assert.match(decodeRecords(Buffer.concat([bytes, head, payload]), 0).damage!, /undecodable/);
  });
});

describe('ring', () => {
  it('holds at most maxEvents, dropping the oldest, and remembers the newest dropped', () => {
    const ring = new EventRing({ maxEvents: 3, maxBytes: 1 << 20, maxAgeMs: 60_000 });
    for (let s = 1; s <= 10; s++) ring.push(stored(s), T0);
    assert.deepEqual(ring.all().map((e) => e.seq), [8, 9, 10]);
    assert.equal(ring.dropped.seq, 7);
    assert.deepEqual(ring.afterSeq(8).map((e) => e.seq), [9, 10]);
    assert.deepEqual(ring.afterSeq(0).map((e) => e.seq), [8, 9, 10]);
    assert.deepEqual(ring.afterSeq(10), []);
  });

  it('holds at most maxBytes of events; one larger than that is not held at all', () => {
    const size = stored(1).raw.length;
    const ring = new EventRing({ maxEvents: 100, maxBytes: size * 2 + 1, maxAgeMs: 60_000 });
    for (let s = 1; s <= 5; s++) {
      ring.push(stored(s), T0);
      assert.ok(ring.bytes <= ring.limits.maxBytes);
    }
    assert.deepEqual(ring.all().map((e) => e.seq), [4, 5]);
    ring.push(stored(6, 'X', { pad: 'y'.repeat(size * 3) }), T0);
    assert.deepEqual(ring.all().map((e) => e.seq), [4, 5]);
    assert.equal(ring.dropped.seq, 6);
    assert.equal(ring.highSeq, 6);
  });

  it('drops events older than maxAgeMs (counted from when qmpmux received them)', () => {
    const ring = new EventRing({ maxEvents: 100, maxBytes: 1 << 20, maxAgeMs: 1000 });
    ring.push(stored(1, 'STOP', undefined, T0), T0);
    ring.push(stored(2, 'STOP', undefined, T0 + 600), T0 + 600);
    ring.prune(T0 + 1200);
    assert.deepEqual(ring.all().map((e) => e.seq), [2]);
    ring.prune(T0 + 1601);
    assert.equal(ring.size, 0);
    assert.equal(ring.dropped.seq, 2);
  });

  it('finds events by QEMU time even when the clock stepped back', () => {
    const ring = new EventRing({ maxEvents: 10, maxBytes: 1 << 20, maxAgeMs: 60_000 });
    for (const [seq, us] of [[1, 100], [2, 300], [3, 200], [4, 400]] as const) ring.push(StoredEvent.fromLive(qmpEvent(seq, 'STOP', undefined, us), T0), T0);
    assert.deepEqual(ring.sinceTime(1795567170 * 1e6 + 200).map((e) => e.seq), [2, 3, 4]);
  });

  it('uses the receive time when QEMU could not read its clock (timestamp -1)', () => {
    const raw = Buffer.from('{"timestamp": {"seconds": -1, "microseconds": -1}, "event": "STOP"}\r\n');
    const e = StoredEvent.fromLive({ seq: 1, name: 'STOP', raw, value: () => JSON.parse(raw.toString()) }, T0);
    assert.equal(e.us, T0 * 1000);
  });

  it('copies the event out of the buffer it was read into', () => {
    const big = Buffer.alloc(65536, 0x20);
    const ev = qmpEvent(1, 'STOP');
    ev.raw.copy(big, 100);
    const e = StoredEvent.fromLive({ ...ev, raw: big.subarray(100, 100 + ev.raw.length) }, T0);
    assert.equal(e.raw.buffer.byteLength, ev.raw.length);
  });
});

describe('latest-event state', () => {
  it('keys events by QEMU’s throttle keys, others by name', () => {
    const s = new LastEvents(THROTTLE_KEYS, 100);
    s.update(stored(1, 'RTC_CHANGE', { offset: 1 }));
    s.update(stored(2, 'VSERPORT_CHANGE', { id: 'a', open: true }));
    s.update(stored(3, 'VSERPORT_CHANGE', { id: 'b', open: true }));
    s.update(stored(4, 'RTC_CHANGE', { offset: 2 }));
    s.update(stored(5, 'VSERPORT_CHANGE', { id: 'a', open: false }));
    s.update(stored(6, 'STOP'));
    s.update(stored(7, 'QUORUM_REPORT_BAD', { 'node-name': 'n1' }));
    s.update(stored(8, 'MEMORY_DEVICE_SIZE_CHANGE', { 'qom-path': '/m/d0', size: 1 }));
    s.update(stored(9, 'BLOCK_IO_ERROR', { 'qom-path': '/m/disk0', action: 'report' }));
    s.update(stored(10, 'BLOCK_IO_ERROR', { 'qom-path': '/m/disk1', action: 'report' }));
    assert.deepEqual(
      s.list().map((x) => [x.event.seq, x.key]),
      [[3, 'b'], [4, undefined], [5, 'a'], [6, undefined], [7, 'n1'], [8, '/m/d0'], [9, '/m/disk0'], [10, '/m/disk1']],
    );
    assert.deepEqual(s.list(new Set(['RTC_CHANGE'])).map((x) => x.event.seq), [4]);
    s.update(stored(2, 'RTC_CHANGE', { offset: 0 })); // older than what is held (a state copy from the journal)
    assert.deepEqual(s.list(new Set(['RTC_CHANGE'])).map((x) => x.event.seq), [4]);
  });

  it('is bounded, dropping the entry updated longest ago', () => {
    const s = new LastEvents(THROTTLE_KEYS, 2);
    s.update(stored(1, 'VSERPORT_CHANGE', { id: 'a' }));
    s.update(stored(2, 'VSERPORT_CHANGE', { id: 'b' }));
    s.update(stored(3, 'VSERPORT_CHANGE', { id: 'a' }));
    s.update(stored(4, 'VSERPORT_CHANGE', { id: 'c' }));
    assert.deepEqual(s.list().map((x) => x.key), ['a', 'c']);
  });
});

describe('options', () => {
  it('has documented defaults and names the bad field', () => {
    const o = validateOptions({}, 'p');
    assert.equal(o.maxEvents, DEFAULTS.maxEvents);
    assert.equal(o.journal, undefined);
    assert.throws(() => validateOptions({ maxEvent: 1 }, 'p'), (e: ConfigError) => e.path === 'p.maxEvent');
    assert.throws(() => validateOptions({ journal: { dir: '/x', segmentBytes: 10 } }, 'p'), (e: ConfigError) => e.path === 'p.journal.segmentBytes');
    assert.throws(() => validateOptions({ autoReplay: [{ mode: 'all' }] }, 'p'), (e: ConfigError) => e.path === 'p.autoReplay[0].mode');
    assert.throws(() => validateOptions({ stateKeys: { FOO: 3 } }, 'p'), (e: ConfigError) => e.path === 'p.stateKeys.FOO');
    assert.equal(validateOptions({ stateKeys: { FOO: 'id', RTC_CHANGE: 'qom-path' } }, 'p').stateKeys.RTC_CHANGE, 'qom-path');
  });
});

describe('journal files', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const options = (dir: string, extra: Partial<EventReplayOptions> = {}): EventReplayOptions => ({
    ...validateOptions({}, 'p'),
    journal: { dir, segmentBytes: 4096, maxSegments: 3 },
    ...extra,
  });
  const fresh = () => {
    const d = mkdtempSync(join(tmpdir(), 'qmpmux-journal-unit-'));
    dirs.push(d);
    return d;
  };

  it('rotates segments, deletes the oldest beyond maxSegments, and carries the latest-event state across', () => {
    const dir = fresh();
    const h = new EventHistory(options(dir), quiet);
    assert.equal(h.openJournal(options(dir).journal!, T0), 0);
    h.record(qmpEvent(1, 'RTC_CHANGE', { offset: 42 }), T0);
    for (let s = 2; s <= 400; s++) h.record(qmpEvent(s, 'STOP', { pad: 'x'.repeat(40) }), T0);
    h.close(400);
    const segs = readdirSync(dir).filter((n) => n.endsWith('.qmj'));
    assert.equal(segs.length, 3);
    assert.ok(!segs.includes('0000000000000001.qmj'), 'the first segment (with RTC_CHANGE itself) is gone');
    assert.deepEqual(readdirSync(dir).filter((n) => !n.endsWith('.qmj')), [], 'lock released');

    const h2 = new EventHistory(options(dir), quiet);
    assert.equal(h2.openJournal(options(dir).journal!, T0), 400, 'clean close: numbering continues right after');
    const first = h2.ring.oldest!.seq;
    assert.ok(first > 2);
    assert.deepEqual(
      h2.ring.all().map((e) => e.seq),
      Array.from({ length: 401 - first }, (_, k) => first + k),
    );
    const rtc = h2.state.list(new Set(['RTC_CHANGE']));
    assert.equal(rtc.length, 1, 'the state copy at the head of a later segment kept it');
    assert.equal(rtc[0]!.event.value().data && (rtc[0]!.event.value().data as { offset: number }).offset, 42);
    const sel = h2.select({ sinceSeq: 0 }, 400, T0);
    assert.equal(sel.lost, true, 'rotated-away events are reported lost');
    assert.equal(h2.select({ sinceSeq: first - 1 }, 400, T0).lost, false);
    h2.close(400);
  });

  it('reports a close mark beyond the last journaled event as lost, and continues after it', () => {
    const dir = fresh();
    const h = new EventHistory(options(dir), quiet);
    h.openJournal(options(dir).journal!, T0);
    h.record(qmpEvent(1, 'STOP'), T0);
    h.close(5); // seqs 2..5 were numbered but never reached the plugin
    const h2 = new EventHistory(options(dir), quiet);
    assert.equal(h2.openJournal(options(dir).journal!, T0), 5);
    assert.equal(h2.select({ sinceSeq: 1 }, 5, T0).lost, true);
    assert.equal(h2.select({ sinceSeq: 5 }, 5, T0).lost, false);
    h2.close(5);
  });

  it('cuts damage in the tail, and after an unclean end continues numbering MAX_UNFLUSHED later', () => {
    const dir = fresh();
    const h = new EventHistory(options(dir), quiet);
    h.openJournal(options(dir).journal!, T0);
    for (let s = 1; s <= 3; s++) h.record(qmpEvent(s, 'STOP'), T0);
    h.close(3);
    const [seg] = readdirSync(dir).filter((n) => n.endsWith('.qmj'));
    const path = join(dir, seg!);
    const good = readFileSync(path);
    appendFileSync(path, encodeRecord({ kind: 'event', seq: 4, at: T0, name: 'STOP', raw: Buffer.from('{}\r\n') }).subarray(0, 9));
    const h2 = new EventHistory(options(dir), quiet);
    assert.equal(h2.openJournal(options(dir).journal!, T0), 3 + MAX_UNFLUSHED);
    assert.deepEqual(readFileSync(path), good);
    assert.deepEqual(h2.ring.all().map((e) => e.seq), [1, 2, 3]);
    h2.close(3 + MAX_UNFLUSHED);
  });

  it('leaves a file that is not a segment alone, and removes one torn inside its header', () => {
    const dir = fresh();
    writeFileSync(join(dir, '0000000000000001.qmj'), 'not ours at all');
    writeFileSync(join(dir, '0000000000000009.qmj'), MAGIC.subarray(0, 3));
    const h = new EventHistory(options(dir), quiet);
    assert.equal(h.openJournal(options(dir).journal!, T0), 0);
    assert.deepEqual(readdirSync(dir).sort(), ['0000000000000001.qmj', 'LOCK']);
    h.close(0);
  });

  it('takes over a stale lock, refuses one held by a live process', () => {
    const dir = fresh();
    writeFileSync(join(dir, 'LOCK'), '999999999\n');
    const h = new EventHistory(options(dir), quiet);
    h.openJournal(options(dir).journal!, T0);
    h.close(0);
    writeFileSync(join(dir, 'LOCK'), `${process.ppid}\n`);
    assert.throws(() => new EventHistory(options(dir), quiet).openJournal(options(dir).journal!, T0), /in use by process/);
  });
});
