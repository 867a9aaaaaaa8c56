/**
 * The on-disk journal: a directory of segment files named by the first seq they hold
 * (`0000000000000042.qmj`), each MAGIC + records (codec.ts). Appends are batched and written with one
 * write() per event-loop turn, or at once when MAX_UNFLUSHED records wait, so a crash loses at most
 * that many. A segment that reaches `segmentBytes` is closed and a new one started, beginning with a
 * copy of the "latest event" state; beyond `maxSegments` the oldest is deleted. At start-up every
 * segment is read back; a torn or damaged tail is cut off the file (and logged), never replayed.
 *
 * One process at a time: a LOCK file holding the owner's pid guards the directory (a stale one, whose
 * process is gone, is taken over).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, truncateSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { acquireLockFile, type Logger } from '@qmpmux/core';
import { MAGIC, decodeRecords, encodeRecord, type JournalRecord } from './codec.ts';
import type { StoredEvent } from './stored-event.ts';

export interface JournalOptions {
  /** Directory of the segment files (created if missing). One qmpmux instance (one VM) per directory. */
  dir: string;
  /** A segment is closed and a new one started once it holds this many bytes. */
  segmentBytes: number;
  /** Segments kept; the oldest beyond this is deleted. Retention ≈ segmentBytes × maxSegments. */
  maxSegments: number;
}

/** Records appended but possibly not yet on disk, at most: the loss bound of a crash. */
export const MAX_UNFLUSHED = 256;

const SEGMENT = /^(\d{16})\.qmj$/;
const segmentName = (firstSeq: number) => `${String(firstSeq).padStart(16, '0')}.qmj`;

export type HistoryRecord = Extract<JournalRecord, { kind: 'event' | 'state' }>;

export interface LoadedJournal {
  /** Events and state copies, in file order. */
  records: HistoryRecord[];
  /** The last clean close's mark: the last seq the proxy had assigned then. */
  close: { seq: number; at: number } | undefined;
  /** The journal ended with a clean close (or holds nothing): no numbered event can be missing. */
  clean: boolean;
  /** What was cut or skipped, for the log and for tests. */
  damage: string[];
}

interface Segment {
  name: string;
  size: number;
}

export class Journal {
  private readonly segments: Segment[] = [];
  private fd: number | undefined;
  private pending: Buffer[] = [];
  private pendingCount = 0;
  private flushQueued = false;
  private failing = false;
  private closed = false;

  private constructor(
    private readonly opts: JournalOptions,
    private readonly log: Logger,
    /** Releases the directory's LOCK file. */
    readonly unlock: () => void,
  ) {}

  /** Lock the directory, read every segment back (cutting damage), and get ready to append. */
  static open(opts: JournalOptions, log: Logger): { journal: Journal; loaded: LoadedJournal } {
    mkdirSync(opts.dir, { recursive: true });
    // The real path: two spellings of one directory are one lock.
    const unlock = acquireLockFile(join(realpathSync(opts.dir), 'LOCK'), `event-replay journal ${opts.dir}`);
    const j = new Journal(opts, log, unlock);
    try {
      return { journal: j, loaded: j.load() };
    } catch (e) {
      j.unlock();
      throw e;
    }
  }

  private load(): LoadedJournal {
    const loaded: LoadedJournal = { records: [], close: undefined, clean: true, damage: [] };
    let lastEventSeq = 0;
    let last: JournalRecord | undefined;
    const names = readdirSync(this.opts.dir)
      .filter((n) => SEGMENT.test(n))
      .sort();
    for (const name of names) {
      const path = join(this.opts.dir, name);
      const buf = readFileSync(path);
      if (buf.length < MAGIC.length && MAGIC.subarray(0, buf.length).equals(buf)) {
        // Created, then the process died before the header was out: it holds nothing.
        unlinkSync(path);
        loaded.damage.push(`${name}: torn header, removed`);
        loaded.clean = false;
        continue;
      }
      if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) {
        loaded.damage.push(`${name}: not a qmpmux journal segment, left alone`);
        continue;
      }
      const r = decodeRecords(buf, MAGIC.length);
      let end = r.end;
      let damage = r.damage;
      for (const [i, rec] of r.records.entries()) {
        if (rec.kind === 'event' && rec.seq <= lastEventSeq) {
          end = r.ends[i - 1] ?? MAGIC.length;
          damage = `event seq ${rec.seq} after ${lastEventSeq}`;
          r.records.length = i;
          break;
        }
        if (rec.kind === 'close') loaded.close = { seq: rec.seq, at: rec.at };
        else {
          loaded.records.push(rec);
          if (rec.kind === 'event') lastEventSeq = rec.seq;
        }
        last = rec;
      }
      if (damage) {
        truncateSync(path, end);
        loaded.damage.push(`${name}: ${damage}; cut at byte ${end} (${buf.length - end} bytes dropped)`);
        loaded.clean = false;
        last = undefined;
      }
      this.segments.push({ name, size: end });
    }
    if (last && last.kind !== 'close') loaded.clean = false;
    for (const d of loaded.damage) this.log.warn(`journal: ${d}`, { dir: this.opts.dir });
    const tail = this.segments[this.segments.length - 1];
    if (tail && tail.size < this.opts.segmentBytes) this.fd = openSync(join(this.opts.dir, tail.name), 'a');
    return loaded;
  }

  /** Append one event; `state` gives the records that start a new segment, if one is started. */
  append(e: StoredEvent, state: () => readonly StoredEvent[]): void {
    if (this.closed) return;
    if (this.fd === undefined || this.activeSize >= this.opts.segmentBytes) this.rotate(e.seq, state);
    if (this.fd === undefined) return; // could not start a segment: logged, retried at the next event
    this.queue(encodeRecord({ kind: 'event', seq: e.seq, at: e.at, name: e.name, raw: e.raw }));
  }

  /** Write what is queued now. */
  flush(): void {
    if (!this.pending.length || this.fd === undefined) return;
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingCount = 0;
    try {
      for (let off = 0; off < buf.length; ) off += writeSync(this.fd, buf, off, buf.length - off);
      if (this.failing) this.log.warn('journal: writing works again', { dir: this.opts.dir });
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.log.error(`journal: write failed, events are missing from it until writing works again: ${(err as Error).message}`, { dir: this.opts.dir });
      this.failing = true;
      // What reached the file may end in a partial record: never append after it, start a new segment.
      this.closeFd();
    }
  }

  /** Flush, mark a clean close with the last seq the proxy assigned, and unlock. */
  close(lastSeq: number, state: () => readonly StoredEvent[]): void {
    if (this.closed) return;
    if (lastSeq > 0) {
      if (this.fd === undefined) this.rotate(lastSeq + 1, state);
      if (this.fd !== undefined) this.queue(encodeRecord({ kind: 'close', seq: lastSeq, at: Date.now() }));
      this.flush();
    }
    this.closed = true;
    if (this.fd !== undefined) {
      try {
        fsyncSync(this.fd);
      } catch {
        /* best effort */
      }
    }
    this.closeFd();
    this.unlock();
  }

  /** Segment files currently kept (for tests and diagnostics). */
  get segmentNames(): string[] {
    return this.segments.map((s) => s.name);
  }

  private get activeSize(): number {
    return this.segments[this.segments.length - 1]?.size ?? 0;
  }

  private queue(buf: Buffer): void {
    this.pending.push(buf);
    this.pendingCount++;
    this.segments[this.segments.length - 1]!.size += buf.length;
    if (this.pendingCount >= MAX_UNFLUSHED) return this.flush();
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => {
        this.flushQueued = false;
        this.flush();
      });
    }
  }

  private rotate(firstSeq: number, state: () => readonly StoredEvent[]): void {
    this.flush();
    this.closeFd();
    const name = segmentName(firstSeq);
    try {
      this.fd = openSync(join(this.opts.dir, name), 'w');
    } catch (err) {
      if (!this.failing) this.log.error(`journal: cannot start segment ${name}: ${(err as Error).message}`, { dir: this.opts.dir });
      this.failing = true;
      return;
    }
    const same = this.segments.findIndex((s) => s.name === name);
    if (same >= 0) this.segments.splice(same, 1);
    this.segments.push({ name, size: 0 });
    this.queue(MAGIC);
    for (const e of state()) this.queue(encodeRecord({ kind: 'state', seq: e.seq, at: e.at, name: e.name, raw: e.raw }));
    while (this.segments.length > this.opts.maxSegments) {
      const old = this.segments.shift()!;
      try {
        unlinkSync(join(this.opts.dir, old.name));
      } catch (err) {
        this.log.warn(`journal: cannot remove old segment ${old.name}: ${(err as Error).message}`, { dir: this.opts.dir });
      }
    }
  }

  private closeFd(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      /* already gone */
    }
    this.fd = undefined;
  }
}
