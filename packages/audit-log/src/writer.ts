/**
 * The audit log writer: append-only, hash-chained, rotated by size, one writing process (a lock file).
 *
 * Writes are synchronous write(2) calls: when append() returns, the record is in the kernel (it survives
 * the death of this process) and a full disk or a permission problem has been seen, so a caller can
 * refuse a command rather than run it unrecorded. Durability (fsync) is asynchronous and grouped: one
 * fsync covers every record written before it started.
 *   fsync "always": an fsync follows every write burst; whenDurable(seq) resolves as soon as it covers seq.
 *   fsync "batch":  an fsync runs once `batchMaxRecords` records are unsynced or `batchMaxDelayMs` after
 *                   the first unsynced one, whichever comes first (the bound on what an OS crash loses).
 *
 * A failed write is cut off (ftruncate to the last complete record), so the file never holds half a
 * record while the process lives, and the chain head does not move. The next successful append first
 * writes a `gap` record saying how many appends failed, since when, and why.
 *
 * Each file starts with a `file` record (segment number, chain algorithm, key id). Rotation renames the
 * active file to PATH.NNNNNN and starts a new one whose `file` record links to the last hash of the
 * previous segment: one chain across files. Reopening an existing log continues its chain (a torn last
 * record, left by a crash inside a write, is cut off with a warning); a file written in another format
 * or with another key is rotated away first.
 */
import { closeSync, fsync, fsyncSync, ftruncateSync, mkdirSync, openSync, renameSync, truncateSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { GENESIS, Hasher } from './chain.ts';
import { computeHash, encodeRecord, type AuditRecord, type LogFormat } from './codec.ts';
import { AuditRecoveryError, AuditWriteError } from './errors.ts';
import { acquireLock, fsyncDir, listSegments, readEnds, segmentName, type FileEnds } from './files.ts';

export type FsyncPolicy = 'always' | 'batch';

export interface WriterOptions {
  /** The active file; rotated segments sit next to it. */
  path: string;
  format: LogFormat;
  fsync: FsyncPolicy;
  /** batch: fsync once this many records are unsynced. */
  batchMaxRecords: number;
  /** batch: fsync at the latest this long after the first unsynced record. */
  batchMaxDelayMs: number;
  /** Rotate once the active file reaches this size; 0 = never. */
  rotateBytes: number;
  /** HMAC key; without one the chain is plain SHA-256. */
  key?: Buffer;
  /** Mode of new files (default 0600). */
  fileMode?: number;
  log?: { info(m: string): void; warn(m: string): void; error(m: string): void };
  /** Told of every append that fails (`write`) and every fsync that fails (`fsync`), e.g. for metrics. */
  onFailure?: (stage: 'write' | 'fsync') => void;
}

interface Segment {
  fd: number;
  n: number;
  size: number;
  /** fsyncs in flight on this fd: it is closed only when none is. */
  busy: number;
  retired: boolean;
}

interface Waiter {
  seq: number;
  resolve(): void;
  reject(e: Error): void;
}

export class AuditWriter {
  readonly hasher: Hasher;
  private seg: Segment | undefined;
  private nextSegment = 1;
  private seq = 0;
  private head = GENESIS;
  private synced = 0;
  private syncing = false;
  private syncAgain = false;
  private timer: NodeJS.Timeout | undefined;
  private waiters: Waiter[] = [];
  private failure: { error: AuditWriteError; since: string; count: number } | undefined;
  private closed = false;
  private readonly log: NonNullable<WriterOptions['log']>;

  private constructor(
    readonly opts: WriterOptions,
    private readonly releaseLock: () => void,
  ) {
    this.hasher = new Hasher(opts.key);
    this.log = opts.log ?? { info() {}, warn() {}, error() {} };
  }

  /** Open (or create) the log and continue its chain. Throws when it cannot (lock, permissions, damage). */
  static open(opts: WriterOptions): AuditWriter {
    mkdirSync(dirname(opts.path), { recursive: true, mode: 0o700 });
    const release = acquireLock(`${opts.path}.lock`);
    const w = new AuditWriter(opts, release);
    try {
      w.recover();
    } catch (e) {
      release();
      throw e;
    }
    return w;
  }

  /** Sequence number and hash of the last record written. */
  get last(): { seq: number; hash: string } {
    return { seq: this.seq, hash: this.head };
  }

  /** The error of the last append, while appends keep failing; undefined once one succeeds. */
  get lastError(): AuditWriteError | undefined {
    return this.failure?.error;
  }

  /**
   * Append a record (`seq`, `time` unless given, `prev` and `hash` are added). Returns once the record
   * is written; throws AuditWriteError when it cannot be.
   */
  append(type: string, fields: Record<string, unknown>): { seq: number; hash: string } {
    if (this.closed) throw new AuditWriteError(this.opts.path, new Error('the audit log is closed'));
    try {
      this.prepareSegment();
      if (this.failure) {
        const f = this.failure;
        this.writeOne('gap', { failed: f.count, since: f.since, error: f.error.message });
        this.failure = undefined;
      }
      const r = this.writeOne(type, fields);
      this.afterWrite();
      return r;
    } catch (e) {
      const error = e instanceof AuditWriteError ? e : new AuditWriteError(this.opts.path, e);
      this.opts.onFailure?.('write');
      if (!this.failure) {
        this.failure = { error, since: new Date().toISOString(), count: 0 };
        this.log.error(error.message);
      }
      this.failure.count++;
      this.failure.error = error;
      throw error;
    }
  }

  /** Resolves once record `seq` is on disk (fsync); rejects when that fsync fails. */
  whenDurable(seq: number): Promise<void> {
    if (seq <= this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ seq, resolve, reject });
      if (this.opts.fsync === 'always') this.kick();
    });
  }

  /** fsync now and wait for it. */
  async flush(): Promise<void> {
    if (this.seq <= this.synced) return;
    const p = this.whenDurable(this.seq);
    this.kick();
    await p;
  }

  /** Sync, close the files and release the lock. Appends after this throw. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const seg = this.seg;
    this.seg = undefined;
    if (seg) {
      try {
        fsyncSync(seg.fd);
        this.settle(this.seq);
      } catch (e) {
        this.settle(this.seq, new AuditWriteError(this.opts.path, e));
      }
      this.retire(seg);
    }
    this.settle(this.seq, new AuditWriteError(this.opts.path, new Error('the audit log was closed')));
    this.releaseLock();
  }

  // ---- internals -----------------------------------------------------------------------------------

  private recover(): void {
    const { path } = this.opts;
    const segments = listSegments(path);
    this.nextSegment = (segments.at(-1)?.n ?? 0) + 1;
    const prevEnds = segments.length ? readEnds(segments.at(-1)!.file) : undefined;
    if (prevEnds?.last) {
      this.seq = prevEnds.last.seq;
      this.head = prevEnds.last.hash;
    }
    const ends = readEnds(path);
    if (ends && ends.validEnd < ends.size) {
      this.log.warn(`${path}: cut off ${ends.size - ends.validEnd} bytes of a record left incomplete by a crash`);
      truncateSync(path, ends.validEnd);
    }
    if (ends?.last) {
      this.checkTail(path, ends, prevEnds?.last);
      this.seq = ends.last.seq;
      this.head = ends.last.hash;
      const header = ends.first?.type === 'file' ? ends.first : undefined;
      const n = typeof header?.segment === 'number' ? header.segment : this.nextSegment;
      this.seg = this.openSegment(n, false, ends.validEnd);
      const foreign = ends.format !== this.opts.format || header?.alg !== this.hasher.alg || header?.keyId !== this.hasher.keyId;
      if (foreign) {
        this.log.info(`${path}: written in another format or with another key: rotating it to ${segmentName(path, n)}`);
        this.rotate();
      }
    } else {
      // Missing, empty, or only a torn first record: start a segment.
      this.seg = this.openSegment(this.nextSegment, false, 0);
      fsyncDir(dirname(path));
    }
  }

  /**
   * The last record must hash to itself and link to the one before (its prev and seq), or the chain
   * is not continued: an edited last record that still parses would otherwise be chained onto silently.
   * Only for a file in this writer's chain (a foreign format or key is rotated away unchecked).
   */
  private checkTail(path: string, ends: FileEnds, beforeFile: AuditRecord | undefined): void {
    const last = ends.last!;
    const header = ends.first?.type === 'file' ? ends.first : undefined;
    if (header && (header.alg !== this.hasher.alg || header.keyId !== this.hasher.keyId)) return;
    const refuse = (why: string) => {
      throw new AuditRecoveryError(`${path}: the last record (seq ${last.seq}) ${why}: the log was altered or damaged; run 'qmpmux audit verify' and move the file aside`);
    };
    if (computeHash(last, this.hasher) !== last.hash) refuse('does not hash to its own hash');
    const before = ends.beforeLast ?? (ends.first === last ? beforeFile : undefined);
    if (before) {
      if (last.prev !== before.hash) refuse(`does not link to the record before it (seq ${before.seq})`);
      if (last.seq !== before.seq + 1) refuse(`has seq ${last.seq} after seq ${before.seq}`);
    }
  }

  /** Open the active file for appending (creating it when asked); its header is written lazily. */
  private openSegment(n: number, create: boolean, size: number): Segment {
    const fd = openSync(this.opts.path, create ? 'ax' : 'a', this.opts.fileMode ?? 0o600);
    if (create) fsyncDir(dirname(this.opts.path));
    this.nextSegment = Math.max(this.nextSegment, n + 1);
    return { fd, n, size, busy: 0, retired: false };
  }

  /** Make sure there is an active file below the rotation size, headed by its `file` record. */
  private prepareSegment(): void {
    if (!this.seg) this.seg = this.openSegment(this.nextSegment, true, 0);
    if (this.opts.rotateBytes > 0 && this.seg.size >= this.opts.rotateBytes) this.rotate();
    if (this.seg!.size === 0) {
      const header: Record<string, unknown> = { segment: this.seg!.n, alg: this.hasher.alg };
      if (this.hasher.keyId) header.keyId = this.hasher.keyId;
      this.writeOne('file', header);
    }
  }

  private rotate(): void {
    const old = this.seg!;
    try {
      fsyncSync(old.fd);
      renameSync(this.opts.path, segmentName(this.opts.path, old.n));
    } catch (e) {
      throw new AuditWriteError(this.opts.path, e);
    }
    this.seg = undefined;
    this.retire(old);
    this.settle(this.seq);
    this.nextSegment = Math.max(this.nextSegment, old.n + 1);
    try {
      this.seg = this.openSegment(this.nextSegment, true, 0);
    } catch (e) {
      throw new AuditWriteError(this.opts.path, e);
    }
  }

  private writeOne(type: string, fields: Record<string, unknown>): { seq: number; hash: string } {
    const seg = this.seg!;
    const seq = this.seq + 1;
    const body: Omit<AuditRecord, 'hash'> = { seq, time: new Date().toISOString(), type, ...fields, prev: this.head };
    body.seq = seq; // fields cannot override the chain's own members
    body.type = type;
    body.prev = this.head;
    const { bytes, hash } = encodeRecord(this.opts.format, body, this.hasher);
    let off = 0;
    try {
      while (off < bytes.length) off += writeSync(seg.fd, bytes, off, bytes.length - off);
    } catch (e) {
      if (off > 0) {
        try {
          ftruncateSync(seg.fd, seg.size);
        } catch {
          /* a torn tail stays; reopening cuts it off */
        }
      }
      throw new AuditWriteError(this.opts.path, e);
    }
    seg.size += bytes.length;
    this.seq = seq;
    this.head = hash;
    return { seq, hash };
  }

  private afterWrite(): void {
    if (this.opts.fsync === 'always' || this.seq - this.synced >= this.opts.batchMaxRecords) this.kick();
    else this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, this.opts.batchMaxDelayMs);
  }

  /** Start an fsync covering everything written so far, or note that another is wanted. */
  private kick(): void {
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    const seg = this.seg;
    if (!seg || this.seq <= this.synced) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const target = this.seq;
    this.syncing = true;
    seg.busy++;
    fsync(seg.fd, (err) => {
      this.syncing = false;
      seg.busy--;
      if (seg.retired) this.retire(seg);
      if (err) {
        const e = new AuditWriteError(this.opts.path, err);
        this.log.error(`fsync failed: ${e.message}`);
        this.opts.onFailure?.('fsync');
        this.settle(target, e);
      } else this.settle(target);
      const again = this.syncAgain;
      this.syncAgain = false;
      if (this.seq > this.synced && !this.closed) {
        if (this.opts.fsync === 'always' || again || this.seq - this.synced >= this.opts.batchMaxRecords) this.kick();
        else this.afterWrite();
      }
    });
  }

  /** Records up to `seq` are durable (or, with an error, failed to be). */
  private settle(seq: number, error?: Error): void {
    this.synced = Math.max(this.synced, seq);
    if (!this.waiters.length) return;
    const keep: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.seq > seq) keep.push(w);
      else if (error) w.reject(error);
      else w.resolve();
    }
    this.waiters = keep;
  }

  private retire(seg: Segment): void {
    seg.retired = true;
    if (seg.busy === 0) {
      try {
        closeSync(seg.fd);
      } catch {
        /* already closed */
      }
      seg.busy = -1; // closed: never again
    }
  }
}
