/**
 * The audit shipper: tails the local hash-chained audit log (hmp-audit's; it stays the source of truth)
 * and publishes every record to JetStream, stream QMPMUX_AUDIT, subject `<p>.<vm>.audit`, so that each
 * record is in the stream once, in chain order.
 *
 * - Where to start: the last record the stream holds for the VM (last message by subject) is looked up
 *   in the local log by seq and hash; shipping goes on with the record after it. When the log does not
 *   have it (the log was replaced, or the segment holding it removed), that is logged as an error and the
 *   log is shipped from its first record: what the stream already has is dropped as a duplicate within
 *   the stream's duplicate window (Nats-Msg-Id = `<vm>.<record hash>`), and stored again beyond it
 *   (docs/nats.md).
 * - Order and exactly-once: one record in flight at a time, published with
 *   `Nats-Expected-Last-Subject-Sequence` = the stream seq of the previous record of this VM. A publish
 *   that times out may still have landed, and a publish sent before a reconnect may land after a later
 *   one: with the expectation the server refuses anything that would land out of place, and the shipper
 *   looks at the stream again (the record it tried is there, or the one before it is, or it seeks).
 *   So the stream never holds a gap or a repeat made by a retry, whatever the duplicate window.
 * - Off the command path: reading is asynchronous, nothing waits for NATS but this loop; an outage only
 *   makes the stream lag behind the log (which holds everything).
 */
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from '@qmpmux/core';
import { AckPublisher, PublishRefused } from './audit-publish.ts';
import { AUDIT_SEQ_HEADER, auditMsgId, auditSubject, DEFAULT_AUDIT_DUPLICATE_WINDOW_MS, ensureAuditStream, HOST_HEADER, lastAuditRecord, MSG_ID_HEADER, type StreamTail } from './audit-stream.ts';
import { LogTail, type LogRecord, type RecordRef } from './audit-tail.ts';

export interface AuditShipperOptions {
  /** An open connection (reconnecting on its own). */
  nc: NatsConnection;
  vm: string;
  subjectPrefix: string;
  /** Default QMPMUX_AUDIT. */
  stream: string;
  /** The hmp-audit log file (the active file; rotated segments beside it). */
  logPath: string;
  host: string;
  log: Logger;
  /** `duplicate_window` of the stream when the shipper creates it (default 120000 ms). */
  duplicateWindowMs?: number;
  /** How long a publish waits for JetStream's ack (default 5000 ms). */
  publishTimeoutMs?: number;
  /** First and longest wait before trying again after a NATS failure (defaults 250 ms, 5000 ms; doubling). */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** How often the log is looked at without a change notification (default 250 ms). */
  pollMs?: number;
  /** After a change notification, how long to wait for more appends before reading (default 10 ms). */
  coalesceMs?: number;
  /** Bytes read from the log at a time (default 64 KiB). */
  readChunkBytes?: number;
  /** The largest record read from the log (default 8 MiB); a bigger one is skipped with an error. */
  maxRecordBytes?: number;
}

export interface AuditShipper {
  stop(): Promise<void>;
  /** Records acknowledged by JetStream (stored now, or found already stored). */
  readonly shipped: number;
  /** Seq of the last record known to be in the stream. */
  readonly lastShippedSeq: number | undefined;
}

export const AUDIT_SHIPPER_DEFAULTS = {
  duplicateWindowMs: DEFAULT_AUDIT_DUPLICATE_WINDOW_MS,
  publishTimeoutMs: 5_000,
  retryMinMs: 250,
  retryMaxMs: 5_000,
  pollMs: 250,
  coalesceMs: 10,
  readChunkBytes: 64 * 1024,
  maxRecordBytes: 8 * 1024 * 1024,
} as const;

/** Bytes kept free in a message for its headers when checking a record against the server's max_payload. */
const HEADER_ROOM = 512;
/** JetStream's error code for a failed Nats-Expected-Last-Subject-Sequence. */
const WRONG_LAST_SEQUENCE = 10071;
const EXPECTED_LAST_SUBJECT_SEQ_HEADER = 'Nats-Expected-Last-Subject-Sequence';

export function startAuditShipper(opts: AuditShipperOptions): AuditShipper {
  const s = new Shipper(opts);
  s.start();
  return s;
}

class Shipper implements AuditShipper {
  shipped = 0;
  lastShippedSeq: number | undefined;
  /** Records not shipped because they are larger than a message may be. */
  skipped = 0;
  private readonly o: Required<Omit<AuditShipperOptions, 'nc' | 'log'>> & Pick<AuditShipperOptions, 'nc' | 'log'>;
  private readonly subject: string;
  private readonly tail: LogTail;
  private readonly ac = new AbortController();
  private readonly publisher: AckPublisher;
  private jsm: JetStreamManager | undefined;
  private done: Promise<void> = Promise.resolve();
  /** The last record known to be in the stream (and the stream's seq of the subject's last message). */
  private confirmed: RecordRef | undefined;
  private lastSubjectSeq = 0;
  /** Taken from the log, not yet known to be in the stream: published again, or found there. */
  private pending: LogRecord | undefined;
  private positioned = false;

  constructor(opts: AuditShipperOptions) {
    this.o = { ...AUDIT_SHIPPER_DEFAULTS, ...withoutUndefined(opts), host: opts.host || hostname() } as Shipper['o'];
    this.subject = auditSubject(opts.subjectPrefix, opts.vm);
    this.publisher = new AckPublisher(opts.nc, this.o.publishTimeoutMs);
    this.tail = new LogTail({ path: opts.logPath, readChunkBytes: this.o.readChunkBytes, maxRecordBytes: this.o.maxRecordBytes, pollMs: this.o.pollMs, coalesceMs: this.o.coalesceMs, log: opts.log });
  }

  start(): void {
    this.done = this.run().catch((e) => this.o.log.error(`audit shipping for ${this.o.vm} ended: ${(e as Error).message}`));
  }

  async stop(): Promise<void> {
    this.ac.abort(new Error('the audit shipper was stopped'));
    await this.done;
    this.publisher.close();
    await this.tail.close();
  }

  private async run(): Promise<void> {
    const signal = this.ac.signal;
    let wait = this.o.retryMinMs;
    let failing: string | undefined;
    while (!signal.aborted) {
      try {
        await this.position();
        if (failing !== undefined) this.o.log.info(`audit shipping for ${this.o.vm} to NATS goes on`, { stream: this.o.stream, lastShippedSeq: this.lastShippedSeq });
        failing = undefined;
        wait = this.o.retryMinMs;
        for (;;) {
          this.pending ??= await this.tail.next(signal);
          await this.publish(this.pending);
          this.pending = undefined;
        }
      } catch (e) {
        if (signal.aborted) break;
        const msg = (e as Error).message;
        if (msg !== failing) this.o.log.warn(`audit shipping for ${this.o.vm} to NATS failed: ${msg}; trying again (the local log keeps every record)`);
        failing = msg;
        const refused = e instanceof PublishRefused && e.code === WRONG_LAST_SEQUENCE;
        try {
          await sleep(refused ? this.o.retryMinMs : wait, undefined, { signal });
        } catch {
          break;
        }
        if (!refused) wait = Math.min(wait * 2, this.o.retryMaxMs);
      }
    }
  }

  /**
   * Make sure the stream exists and learn what it holds last for this VM: then go on from the record
   * in flight (if that is not there yet) or after it, or find the stream's last record in the log.
   */
  private async position(): Promise<void> {
    this.jsm ??= await jetstreamManager(this.o.nc, { checkAPI: false, timeout: this.o.publishTimeoutMs });
    await ensureAuditStream(this.jsm, { stream: this.o.stream, subjectPrefix: this.o.subjectPrefix, duplicateWindowMs: this.o.duplicateWindowMs });
    const last = await lastAuditRecord(this.jsm, this.o.stream, this.subject);
    this.lastSubjectSeq = last?.streamSeq ?? 0;
    const p = this.pending;
    if (p && last && p.record.seq === last.seq && p.record.hash === last.hash) {
      this.confirm(p.record, last.streamSeq); // it landed; its ack was lost
      this.pending = undefined;
      return;
    }
    const c = this.confirmed;
    if (this.positioned && (last ? c !== undefined && c.seq === last.seq && c.hash === last.hash : c === undefined)) return; // the pending one goes again
    this.pending = undefined;
    await this.seek(last);
    this.positioned = true;
  }

  private async seek(last: StreamTail | undefined): Promise<void> {
    if (!last) {
      if (this.confirmed) this.o.log.warn(`the stream ${this.o.stream} no longer holds any audit record of ${this.o.vm} (deleted or purged?): shipping the log from its start`);
      this.confirmed = undefined;
      await this.tail.seek(undefined);
      return;
    }
    const r = await this.tail.seek({ seq: last.seq, hash: last.hash });
    if (r.found) {
      this.confirmed = { seq: last.seq, hash: last.hash };
      this.lastShippedSeq = last.seq;
      return;
    }
    this.confirmed = undefined;
    this.o.log.error(
      `the last audit record of ${this.o.vm} in the stream ${this.o.stream} (seq ${last.seq}, hash ${last.hash.slice(0, 16)}…, stream seq ${last.streamSeq}) is not in the local log ${this.o.logPath} (${r.why}): ` +
        `shipping the log from its start; JetStream drops records it already holds only within its duplicate window, older ones are stored again (see docs/nats.md, "Audit records")`,
    );
  }

  private async publish(rec: LogRecord): Promise<void> {
    const max = this.o.nc.info?.max_payload;
    if (max !== undefined && rec.payload.length + HEADER_ROOM > max) {
      this.skipped++;
      this.o.log.error(`audit record seq ${rec.record.seq} of ${this.o.vm} is ${rec.payload.length} bytes, more than a NATS message may hold (max_payload ${max}): not shipped (it stays in the local log)`);
      return;
    }
    const h = headers();
    h.set(MSG_ID_HEADER, auditMsgId(this.o.vm, rec.record.hash));
    h.set(AUDIT_SEQ_HEADER, String(rec.record.seq));
    h.set(HOST_HEADER, this.o.host);
    h.set(EXPECTED_LAST_SUBJECT_SEQ_HEADER, String(this.lastSubjectSeq));
    const ack = await untilAborted(this.publisher.publish(this.subject, rec.payload, h), this.ac.signal);
    this.confirm(rec.record, ack.seq);
  }

  private confirm(r: RecordRef, streamSeq: number): void {
    this.confirmed = { seq: r.seq, hash: r.hash };
    this.lastSubjectSeq = Math.max(this.lastSubjectSeq, streamSeq);
    this.lastShippedSeq = r.seq;
    this.shipped++;
  }
}

function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
