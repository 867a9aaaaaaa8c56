/**
 * Reading the local audit log (written by hmp-audit) for the shipper: records in chain order from a
 * given record on, through the rotated segments (`PATH.000001`, …) into the active file, which is then
 * followed as it grows and rotates.
 *
 * Only complete records are returned: a record being written (or torn by a crash) is read again at the
 * next look, and the writer only ever cuts a file back to the end of its last complete record, so the
 * read position is never past a cut. The file not existing yet is waited for. A change under the reader
 * that the writer never makes (the file shrinking below the read position, the log replaced by another
 * chain) makes it look for its place again by seq and hash (`seek`).
 *
 * Bounded memory: one read buffer of `readChunkBytes` (grown up to `maxRecordBytes` for a bigger
 * record, then back) and the records decoded from one read.
 */
import { watch, type FSWatcher } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeRecords, detectFormat, encodeHashed, listSegments, type AuditRecord, type LogFormat } from '@qmpmux/audit-log';
import type { Logger } from '@qmpmux/core';

export interface TailOptions {
  /** The active file of the log; its rotated segments sit beside it. */
  path: string;
  /** Bytes read at a time. */
  readChunkBytes: number;
  /** The largest record read; a bigger one is skipped with an error (the stream then lacks it). */
  maxRecordBytes: number;
  /** How often the file is looked at when no change notification came (fs.watch is the fast path). */
  pollMs: number;
  /** After a change notification, how long to wait for more before reading (one read for a burst of appends). */
  coalesceMs: number;
  log: Logger;
}

/** A record of the log, with the payload to publish: its JSON line without the line end. */
export interface LogRecord {
  record: AuditRecord;
  payload: Buffer;
  file: string;
  offset: number;
}

/** Where a record is: its seq and hash. */
export interface RecordRef {
  seq: number;
  hash: string;
}

export type SeekResult = { found: true } | { found: false; why: string };

interface Cursor {
  file: string;
  fh: FileHandle;
  ino: number;
  format: LogFormat | undefined;
  pos: number;
  /** Not an audit log: nothing in it is read. */
  foreign?: boolean;
}

/** A file of the log, open (unless missing), with its first record (undefined: empty or not a log). */
interface Candidate {
  file: string;
  fh: FileHandle | undefined;
  first: AuditRecord | undefined;
}

export class LogTail {
  private cur: Cursor | undefined;
  private queue: LogRecord[] = [];
  private head = 0;
  /** The last record returned by next() (or found by seek): where reading goes on. */
  private last: RecordRef | undefined;
  private chunk: number;
  private watcher: FSWatcher | undefined;
  /** The directory changed since the file was last read (fs.watch). */
  private changed = true;
  /** A file may have been created, renamed or cut since the last look at the files themselves. */
  private recheck = true;
  private wake: ((why: 'change' | 'timer') => void) | undefined;
  private buf: Buffer | undefined;
  private closed = false;

  constructor(private readonly opts: TailOptions) {
    this.chunk = opts.readChunkBytes;
  }

  /**
   * Go to just after record `ref` (found by seq, checked by hash), or to the start of the log (no ref,
   * or ref not in the log: `found` false says why).
   */
  async seek(ref: RecordRef | undefined): Promise<SeekResult> {
    await this.release();
    this.last = undefined;
    if (!ref) return { found: true };
    const files = await this.candidates();
    const idx = files.findLastIndex((c) => c.first !== undefined && c.first.seq <= ref.seq);
    if (idx < 0) {
      await closeAll(files);
      const first = files.find((c) => c.first)?.first;
      return { found: false, why: first ? `the log starts at seq ${first.seq}` : 'the log holds no record' };
    }
    await this.use(files, files[idx]!);
    for (;;) {
      const r = await this.take();
      if (!r) {
        await this.release();
        return { found: false, why: `the log ends before seq ${ref.seq}` };
      }
      if (r.record.seq < ref.seq) continue;
      if (r.record.seq === ref.seq && r.record.hash === ref.hash) {
        this.last = ref;
        return { found: true };
      }
      await this.release();
      return { found: false, why: r.record.seq === ref.seq ? `its record seq ${ref.seq} has another hash (${r.record.hash.slice(0, 16)}…)` : `it has no record seq ${ref.seq}` };
    }
  }

  /** The next record; waits for one. Rejects with the signal's reason when aborted. */
  async next(signal: AbortSignal): Promise<LogRecord> {
    for (;;) {
      signal.throwIfAborted();
      const r = await this.take();
      if (r) {
        const last = this.last;
        if (last && (r.record.seq !== last.seq + 1 || r.record.prev !== last.hash)) {
          this.opts.log.warn(`audit log ${r.file}: record seq ${r.record.seq} at byte ${r.offset} does not follow seq ${last.seq} (the log is damaged or was replaced): shipped as it is; run 'qmpmux audit verify' on the log`);
        }
        this.last = { seq: r.record.seq, hash: r.record.hash };
        return r;
      }
      if (await this.advance()) continue;
      await this.idle(signal);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    this.watcher = undefined;
    this.wake?.('timer');
    await this.release();
  }

  // ---- reading ----------------------------------------------------------------------------------

  /** The next complete record at the cursor, reading more of the file when needed; undefined: none yet. */
  private async take(): Promise<LogRecord | undefined> {
    if (this.head < this.queue.length) return this.queue[this.head++];
    this.queue = [];
    this.head = 0;
    if (!this.cur) return undefined;
    this.changed = false;
    while ((await this.fill(this.cur)) && this.queue.length === 0);
    return this.head < this.queue.length ? this.queue[this.head++] : undefined;
  }

  /**
   * Read from the cursor and decode the complete records there into the queue. True when it got on
   * (records, or skipped bytes, or a bigger buffer for a big record): reading again may give more.
   */
  private async fill(cur: Cursor): Promise<boolean> {
    if (cur.foreign) return false;
    if (this.buf?.length !== this.chunk) this.buf = Buffer.allocUnsafe(this.chunk);
    const buf = this.buf;
    const { bytesRead } = await cur.fh.read(buf, 0, buf.length, cur.pos);
    if (bytesRead === 0) return false;
    const data = buf.subarray(0, bytesRead);
    if (!cur.format) {
      cur.format = cur.pos === 0 ? detectFormat(data[0]) : undefined;
      if (!cur.format) {
        this.opts.log.error(`audit log ${cur.file}: not an audit log (first byte 0x${data[0]!.toString(16)}): not shipped`);
        cur.foreign = true;
        return false;
      }
    }
    const format = cur.format;
    let used = 0;
    for (const d of decodeRecords(data, format, false, cur.pos)) {
      used = d.end - cur.pos;
      if (!d.ok) {
        this.opts.log.error(`audit log ${cur.file}: the record at byte ${d.start} does not decode (${d.reason}): not shipped; run 'qmpmux audit verify' on the log`);
        if (format === 'msgpack') used = bytesRead; // no framing to trust after it
        continue;
      }
      const payload = format === 'json' ? Buffer.from(data.subarray(d.start - cur.pos, d.end - cur.pos - 1)) : encodeHashed('json', d.record).subarray(0, -1);
      this.queue.push({ record: d.record, payload, file: cur.file, offset: d.start });
    }
    if (used > 0) {
      cur.pos += used;
      this.chunk = this.opts.readChunkBytes;
      return true;
    }
    if (bytesRead < buf.length) return false; // the rest of a record still being written
    if (this.chunk < this.opts.maxRecordBytes) {
      this.chunk = Math.min(this.chunk * 2, this.opts.maxRecordBytes);
      return true; // read again with the bigger buffer
    }
    return this.skipOversized(cur);
  }

  /** A record longer than maxRecordBytes: skip it (JSON: to the next line end; msgpack: what is there). */
  private async skipOversized(cur: Cursor): Promise<boolean> {
    const at = cur.pos;
    let pos = at;
    if (cur.format === 'json') {
      const buf = Buffer.allocUnsafe(this.opts.readChunkBytes);
      for (;;) {
        const { bytesRead } = await cur.fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) return false; // no line end yet: look again later
        const nl = buf.subarray(0, bytesRead).indexOf(0x0a);
        if (nl >= 0) {
          pos += nl + 1;
          break;
        }
        pos += bytesRead;
      }
    } else pos = (await cur.fh.stat()).size;
    this.opts.log.error(`audit log ${cur.file}: the record at byte ${at} is larger than maxRecordBytes (${this.opts.maxRecordBytes}): not shipped`);
    cur.pos = pos;
    this.chunk = this.opts.readChunkBytes;
    return true;
  }

  // ---- files --------------------------------------------------------------------------------------

  /**
   * Nothing more to read at the cursor: move on when the file is finished (a segment, or the active
   * file rotated away) or was changed under us. True when something changed and reading should go on.
   */
  private async advance(): Promise<boolean> {
    const cur = this.cur;
    if (!cur) return this.openNext();
    if (cur.file !== this.opts.path) {
      // A rotated segment, read to its end: on to the next file.
      await this.release();
      return this.openNext();
    }
    // Appends only change the file; rotation creates and renames files (or the poll timer came).
    if (!this.recheck) return false;
    this.recheck = false;
    const size = (await cur.fh.stat()).size;
    if (size < cur.pos) {
      this.opts.log.warn(`audit log ${cur.file}: the file shrank below what was read (${size} < ${cur.pos} bytes): finding the last record read again`);
      await this.reseek();
      return true;
    }
    let ino: number | undefined;
    try {
      ino = (await stat(this.opts.path)).ino;
    } catch {
      ino = undefined; // renamed away; the next file is not there yet
    }
    if (ino === cur.ino) return false; // still the active file: wait for it to grow
    // Rotated: whatever the writer wrote before the rename is read first.
    if (this.head < this.queue.length) return true;
    while ((await this.fill(cur)) && this.queue.length === 0);
    if (this.queue.length) return true;
    await this.release();
    return this.openNext();
  }

  /** Open the file holding the record after the last one returned. True when reading can go on. */
  private async openNext(): Promise<boolean> {
    const files = await this.candidates();
    const last = this.last;
    const active = files.at(-1)!;
    if (!last) {
      const c = files.find((f) => f.first) ?? (active.fh ? active : undefined);
      return this.use(files, c);
    }
    // After a rotation: the next segment (or the new active file) starts with the next record.
    const next = files.find((f) => f.first?.seq === last.seq + 1);
    if (next) return this.use(files, next);
    const later = files.find((f) => f.first && f.first.seq > last.seq + 1);
    if (!later) {
      if (!active.fh) return this.use(files, undefined); // between the rotation's rename and the new file
      if (!active.first) return this.use(files, active); // the new active file, nothing in it yet
    }
    await closeAll(files);
    // The active file starts at or before the last record read (the log was replaced, or copied back),
    // or records are missing: find the last record read again.
    if (!(await this.reseek())) return true;
    if (later) {
      if (await this.take()) {
        this.head--; // more records after it where it was found: read on there
        return true;
      }
      const again = await this.candidates();
      const c = again.find((f) => f.first && f.first.seq > last.seq);
      if (c) this.opts.log.error(`audit log ${this.opts.path}: records ${last.seq + 1}..${c.first!.seq - 1} are not in the log (a segment was removed?): shipping from seq ${c.first!.seq}`);
      return this.use(again, c);
    }
    return true;
  }

  /**
   * Find the last record returned again (by seq and hash). When the log no longer has it, say so and
   * start over from the log's first record. True when it was found.
   */
  private async reseek(): Promise<boolean> {
    const last = this.last!;
    const r = await this.seek(last);
    if (!r.found) {
      this.opts.log.error(`audit log ${this.opts.path}: the record last read (seq ${last.seq}, ${last.hash.slice(0, 16)}…) is no longer in the log (${r.why}): the log was replaced or cut; shipping it again from its start`);
    }
    return r.found;
  }

  /**
   * The log's files in chain order, each open, with its first record. The active file is opened first:
   * a segment that held records before it was renamed before it was created, so the listing made after
   * misses none (a rotation meanwhile only adds a newer file, seen next time). Reading from the handle
   * opened here means reading the file whose first record was looked at, whatever is renamed after.
   */
  private async candidates(): Promise<Candidate[]> {
    const active = await this.inspect(this.opts.path);
    const segments: Candidate[] = [];
    for (const s of listSegments(this.opts.path)) segments.push(await this.inspect(s.file));
    return [...segments.filter((c) => c.fh), active];
  }

  private async inspect(file: string): Promise<Candidate> {
    let fh: FileHandle;
    try {
      fh = await open(file, 'r');
    } catch {
      return { file, fh: undefined, first: undefined };
    }
    const buf = Buffer.allocUnsafe(Math.min(this.opts.readChunkBytes, 64 * 1024));
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const format = detectFormat(buf[0]);
    let first: AuditRecord | undefined;
    if (bytesRead && format) for (const d of decodeRecords(buf.subarray(0, bytesRead), format, false)) {
      if (d.ok) first = d.record;
      break;
    }
    return { file, fh, first };
  }

  /** Read `chosen` from its start (none: nothing to read yet); close the other candidates. */
  private async use(files: Candidate[], chosen: Candidate | undefined): Promise<boolean> {
    await this.release();
    await closeAll(files, chosen);
    if (!chosen?.fh) return false;
    this.cur = { file: chosen.file, fh: chosen.fh, ino: (await chosen.fh.stat()).ino, format: undefined, pos: 0 };
    return true;
  }

  private async release(): Promise<void> {
    const cur = this.cur;
    this.cur = undefined;
    this.queue = [];
    this.head = 0;
    this.chunk = this.opts.readChunkBytes;
    await cur?.fh.close().catch(() => undefined);
  }

  // ---- waiting ------------------------------------------------------------------------------------

  /**
   * Wait for a change in the log's directory (then coalesceMs more, to read a burst of appends at
   * once), at most pollMs; without a watch, every look is a full one.
   */
  private async idle(signal: AbortSignal): Promise<void> {
    this.ensureWatcher();
    if (!this.watcher) this.recheck = true;
    if (this.changed) {
      // Appended to while the last records were shipped: gather a little more before reading again.
      this.changed = false;
      if (this.opts.coalesceMs > 0) await sleep(this.opts.coalesceMs);
      return;
    }
    const why = await new Promise<'change' | 'timer'>((resolve) => {
      const done = (w: 'change' | 'timer') => {
        clearTimeout(timer);
        signal.removeEventListener('abort', aborted);
        this.wake = undefined;
        resolve(w);
      };
      const aborted = () => done('timer');
      const timer = setTimeout(() => done('timer'), this.opts.pollMs);
      signal.addEventListener('abort', aborted);
      this.wake = done;
    });
    if (why === 'timer') this.recheck = true;
    else if (this.opts.coalesceMs > 0 && !signal.aborted) await sleep(this.opts.coalesceMs);
  }

  private ensureWatcher(): void {
    if (this.watcher || this.closed) return;
    try {
      this.watcher = watch(dirname(this.opts.path), { persistent: false }, (event) => {
        this.changed = true;
        if (event === 'rename') this.recheck = true;
        this.wake?.('change');
      });
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined; // the directory went away: polling goes on, and a new watch is tried
      });
    } catch {
      this.watcher = undefined; // no directory yet: poll
    }
  }
}

async function closeAll(files: Candidate[], except?: Candidate): Promise<void> {
  for (const f of files) if (f !== except) await f.fh?.close().catch(() => undefined);
}
