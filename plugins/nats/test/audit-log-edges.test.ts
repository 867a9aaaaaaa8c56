/**
 * The shipper on logs written by the audit-log writer (the one hmp-audit uses) in states QEMU cannot be
 * made to produce on demand, against a real nats-server: a record seen half-written, a crash's torn tail
 * cut off by the next writer, the stream's last record not in the log (a log replaced, or restored from
 * an older copy), a record bigger than the shipper reads, a msgpack log, two VMs with the same records,
 * two shippers racing on one log; and the publisher's acks (stored, duplicate, refused expectation, no
 * stream).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { headers } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { AuditWriter, encodeHashed, encodeRecord, Hasher, recordValue, type WriterOptions } from '@qmpmux/audit-log';
import { useTempDir } from '@qmpmux/e2e';
import { AckPublisher, PublishRefused } from '../src/audit-publish.ts';
import { startAuditShipper, type AuditShipperOptions } from '../src/audit-shipper.ts';
import { verifyAuditStream } from '../src/audit-verify.ts';
import { countOnSubject, localRecords, sameAsLog, streamMessages } from './audit-helpers.ts';
import { captureLog, until, useNats } from './helpers.ts';

const STREAM = 'QMPMUX_AUDIT';
const tmp = useTempDir('qmpmux-nats-audit-');
const bus = useNats();

let n = 0;
/** A fresh VM name and log path per test: one subject each in the shared stream. */
function fresh(): { vm: string; path: string; subject: string } {
  const vm = `edge${n++}`;
  return { vm, path: join(tmp, vm, 'audit.log'), subject: `qmpmux.${vm}.audit` };
}

function writer(path: string, over: Partial<WriterOptions> = {}): AuditWriter {
  return AuditWriter.open({ path, format: 'json', fsync: 'batch', batchMaxRecords: 64, batchMaxDelayMs: 20, rotateBytes: 0, ...over });
}

function append(w: AuditWriter, count: number, extra: Record<string, unknown> = {}): void {
  for (let i = 0; i < count; i++) w.append('command', recordValue({ client: i, hmp: { line: `p ${i}`, name: 'print' }, ...extra }) as Record<string, unknown>);
}

function ship(vm: string, path: string, over: Partial<AuditShipperOptions> = {}) {
  const { log, lines } = captureLog();
  const shipper = startAuditShipper({ nc: bus.nc, vm, subjectPrefix: 'qmpmux', stream: STREAM, logPath: path, host: 'host-b', log, pollMs: 50, ...over });
  return { shipper, lines };
}

const lastSeq = (path: string) => localRecords(path).at(-1)!.seq;

describe('the shipper on the log’s edge cases', () => {
  it('ships a record only once it is whole, and goes on after a torn tail the next writer cuts off', async () => {
    const { vm, path, subject } = fresh();
    const w = writer(path);
    append(w, 4);
    await w.close();
    const { shipper } = ship(vm, path);
    try {
      await until(() => shipper.lastShippedSeq === 5, '5 records shipped');
      // The next record, written in two parts (as a write(2) seen half done).
      const last = localRecords(path).at(-1)!;
      const { bytes } = encodeRecord('json', { seq: 6, time: new Date().toISOString(), type: 'command', client: 9, prev: last.hash }, new Hasher());
      appendFileSync(path, bytes.subarray(0, 40));
      await sleep(300);
      assert.equal(await countOnSubject(bus.nc, STREAM, subject), 5, 'half a record is not shipped');
      appendFileSync(path, bytes.subarray(40));
      await until(() => shipper.lastShippedSeq === 6, 'the completed record shipped');
      // A crash inside a write leaves a torn tail; the next writer cuts it off and continues the chain.
      appendFileSync(path, bytes.subarray(0, 25));
      const w2 = writer(path);
      append(w2, 3);
      await w2.close();
      await until(() => shipper.lastShippedSeq === lastSeq(path), 'the records after the cut shipped');
      assert.equal(sameAsLog(await streamMessages(bus.nc, STREAM, subject), path, 'host-b'), undefined);
      assert.equal((await verifyAuditStream({ nc: bus.nc, vm })).report.ok, true);
    } finally {
      await shipper.stop();
    }
  });

  it('a new shipper goes on after the stream’s last record (found in the log by seq and hash)', async () => {
    const { vm, path, subject } = fresh();
    const w = writer(path, { rotateBytes: 1500 });
    append(w, 10);
    const a = ship(vm, path);
    await until(() => a.shipper.lastShippedSeq === lastSeq(path), 'the first records shipped');
    await a.shipper.stop();
    append(w, 25); // rotates: the next record is in another file than the stream's last one
    await w.close();
    const b = ship(vm, path);
    try {
      await until(() => b.shipper.lastShippedSeq === lastSeq(path), 'the rest shipped');
      assert.equal(b.shipper.shipped, localRecords(path).length - a.shipper.shipped, 'the second shipper shipped only what the stream did not have');
      assert.equal(sameAsLog(await streamMessages(bus.nc, STREAM, subject), path, 'host-b'), undefined);
      assert.deepEqual(b.lines.filter((l) => l.level === 'error'), []);
    } finally {
      await b.shipper.stop();
    }
  });

  it('the stream’s last record not in the log (a restored older copy): says so, ships the log from its start; duplicates dropped within the window', async () => {
    const { vm, path, subject } = fresh();
    const w = writer(path);
    append(w, 6);
    await w.close();
    const a = ship(vm, path);
    await until(() => a.shipper.lastShippedSeq === 7, 'all shipped');
    await a.shipper.stop();
    // Restore an older copy of the log: its first 4 records.
    const lines = readFileSync(path, 'utf8').split('\n');
    writeFileSync(path, lines.slice(0, 4).join('\n') + '\n');
    const b = ship(vm, path);
    try {
      await until(() => b.shipper.shipped === 4, 'the older records went through again');
      const err = b.lines.find((l) => l.level === 'error')?.msg ?? '';
      assert.match(err, /the last audit record of edge\d+ in the stream QMPMUX_AUDIT \(seq 7, hash [0-9a-f]{16}…, stream seq \d+\) is not in the local log .*\(the log ends before seq 7\): shipping the log from its start/);
      assert.equal(await countOnSubject(bus.nc, STREAM, subject), 7, 'records the stream holds were dropped as duplicates (within the duplicate window)');
    } finally {
      await b.shipper.stop();
    }
  });

  it('another chain for the same VM (the log replaced): says so and ships it; verify reports where the chain breaks', async () => {
    const { vm, path, subject } = fresh();
    const w = writer(path);
    append(w, 3);
    await w.close();
    const a = ship(vm, path);
    await until(() => a.shipper.lastShippedSeq === 4, 'all shipped');
    await a.shipper.stop();
    const other = join(tmp, `${vm}-other`, 'audit.log');
    const w2 = writer(other);
    append(w2, 2, { other: true });
    await w2.close();
    const b = ship(vm, other);
    try {
      await until(() => b.shipper.lastShippedSeq === 3, 'the other chain shipped');
      assert.match(b.lines.find((l) => l.level === 'error')?.msg ?? '', /is not in the local log .*\(the log ends before seq 4\)/);
      const streamed = await streamMessages(bus.nc, STREAM, subject);
      assert.deepEqual(streamed.map((s) => s.record.seq), [1, 2, 3, 4, 1, 2, 3]);
      const v = await verifyAuditStream({ nc: bus.nc, vm });
      assert.equal(v.report.ok, false);
      assert.deepEqual([v.report.broken!.kind, v.report.broken!.seq, v.report.broken!.expectedSeq, v.report.broken!.at], ['seq', 1, 5, `stream seq ${streamed[4]!.streamSeq}`]);
    } finally {
      await b.shipper.stop();
    }
  });

  it('follows a log replaced under it while running (moved aside, then cut to nothing), shipping each new chain', async () => {
    const { vm, path, subject } = fresh();
    const w = writer(path);
    append(w, 3);
    await w.close();
    const { shipper, lines } = ship(vm, path);
    try {
      await until(() => shipper.lastShippedSeq === 4, 'all shipped');
      // Moved aside, and a new log started at the same path.
      renameSync(path, `${path}.moved-aside`);
      const w2 = writer(path);
      append(w2, 5, { second: true });
      await w2.close();
      await until(() => shipper.shipped === 4 + 6, 'the second chain shipped');
      assert.match(lines.find((l) => l.level === 'error')?.msg ?? '', /the record last read \(seq 4, [0-9a-f]{16}…\) is no longer in the log \(its record seq 4 has another hash/);
      // Cut to nothing in place, then a third chain.
      truncateSync(path, 0);
      await until(() => lines.some((l) => /shrank below what was read/.test(l.msg)), 'the cut is noticed');
      const w3 = writer(path);
      append(w3, 1, { third: true });
      await w3.close();
      await until(() => shipper.shipped === 4 + 6 + 2, 'the third chain shipped');
      const streamed = await streamMessages(bus.nc, STREAM, subject);
      assert.deepEqual(streamed.map((s) => s.record.seq), [1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 1, 2]);
      assert.deepEqual(streamed.slice(-2).map((s) => s.record.hash), localRecords(path).map((r) => r.hash));
    } finally {
      await shipper.stop();
    }
  });

  it('a msgpack log: each record goes out as the JSON line it would have in a JSON log, and verifies', async () => {
    const { vm, path, subject } = fresh();
    const w = writer(path, { format: 'msgpack', rotateBytes: 1200 });
    append(w, 30);
    await w.close();
    const { shipper } = ship(vm, path);
    try {
      const recs = localRecords(path);
      await until(() => shipper.lastShippedSeq === recs.at(-1)!.seq, 'all shipped');
      const streamed = await streamMessages(bus.nc, STREAM, subject);
      assert.deepEqual(streamed.map((m) => m.payload), recs.map((r) => encodeHashed('json', r).toString('utf8').slice(0, -1)));
      assert.equal((await verifyAuditStream({ nc: bus.nc, vm })).report.ok, true);
    } finally {
      await shipper.stop();
    }
  });

  it('two VMs whose logs hold the same records (a copied log): each VM’s subject gets all of them', async () => {
    const a = fresh();
    const b = fresh();
    const w = writer(a.path);
    append(w, 20);
    await w.close();
    mkdirSync(join(tmp, b.vm), { recursive: true });
    copyFileSync(a.path, b.path);
    const shippers = [ship(a.vm, a.path), ship(b.vm, b.path)];
    try {
      await until(() => shippers.every((s) => s.shipper.lastShippedSeq === 21), 'both logs shipped');
      assert.equal(sameAsLog(await streamMessages(bus.nc, STREAM, a.subject), a.path, 'host-b'), undefined);
      assert.equal(sameAsLog(await streamMessages(bus.nc, STREAM, b.subject), b.path, 'host-b'), undefined);
    } finally {
      for (const s of shippers) await s.shipper.stop();
    }
  });

  it('two shippers on one log (a misconfiguration): still each record once, in order', async () => {
    const { vm, path } = fresh();
    // A short duplicate window: what it does not drop, the expected last subject sequence refuses.
    await (await jetstreamManager(bus.nc)).streams.add({ name: 'RACE', subjects: ['race.*.audit'], duplicate_window: 100_000_000 });
    const w = writer(path);
    append(w, 3000);
    await w.close();
    const racers = [0, 1].map(() => ship(vm, path, { subjectPrefix: 'race', stream: 'RACE' }));
    try {
      await until(() => racers.every((r) => r.shipper.lastShippedSeq === 3001), 'both shippers see the whole log in the stream');
      assert.equal(sameAsLog(await streamMessages(bus.nc, 'RACE', `race.${vm}.audit`), path, 'host-b'), undefined);
    } finally {
      for (const r of racers) await r.shipper.stop();
    }
  });

  it('publishes with the ack on its own inbox: stored, a duplicate, a refused expectation, no stream', async () => {
    await (await jetstreamManager(bus.nc)).streams.add({ name: 'ACKS', subjects: ['acks.>'] });
    const p = new AckPublisher(bus.nc, 2000);
    try {
      const h = (id: string, last?: number) => {
        const x = headers();
        x.set('Nats-Msg-Id', id);
        if (last !== undefined) x.set('Nats-Expected-Last-Subject-Sequence', String(last));
        return x;
      };
      const first = await p.publish('acks.a', Buffer.from('{}'), h('one', 0));
      assert.deepEqual(first, { seq: first.seq, duplicate: false });
      assert.deepEqual(await p.publish('acks.a', Buffer.from('{}'), h('one')), { seq: first.seq, duplicate: true });
      await assert.rejects(p.publish('acks.a', Buffer.from('{}'), h('two', 0)), (e) => e instanceof PublishRefused && e.code === 10071 && /wrong last sequence/.test(e.message));
      await assert.rejects(p.publish('nostream.a', Buffer.from('{}'), h('three')), /no responders/);
    } finally {
      p.close();
    }
  });

  it('skips a record bigger than maxRecordBytes with an error, ships the ones after it; verify names the missing seq', async () => {
    const { vm, path } = fresh();
    mkdirSync(join(tmp, vm), { recursive: true });
    const w = writer(path);
    append(w, 2);
    append(w, 1, { blob: 'x'.repeat(20_000) }); // seq 4
    append(w, 2);
    await w.close();
    const { shipper, lines } = ship(vm, path, { readChunkBytes: 1024, maxRecordBytes: 8192 });
    try {
      await until(() => shipper.lastShippedSeq === 6, 'the records after it shipped');
      assert.equal(shipper.shipped, 5);
      assert.match(lines.find((l) => l.level === 'error')?.msg ?? '', /the record at byte \d+ is larger than maxRecordBytes \(8192\): not shipped/);
      const v = await verifyAuditStream({ nc: bus.nc, vm });
      assert.deepEqual([v.report.ok, v.report.broken!.expectedSeq, v.report.broken!.seq], [false, 4, 5]);
    } finally {
      await shipper.stop();
    }
  });
});
