/**
 * The files of one log: the active file (the configured path) and its rotated segments `PATH.000001`,
 * `PATH.000002`, … (oldest first), a lock file `PATH.lock` naming the writing process, and reading the
 * first and last record of a file without reading all of it (JSON lines) when possible.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, readdirSync, fsyncSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { decodeRecords, detectFormat, type AuditRecord, type LogFormat } from './codec.ts';
import { AuditLockError, AuditRecoveryError } from './errors.ts';
import { acquireLockFile, LockFileError } from '@qmpmux/core';

export function segmentName(path: string, n: number): string {
  return `${path}.${String(n).padStart(6, '0')}`;
}

/** Rotated segments of `path`, oldest first. */
export function listSegments(path: string): { n: number; file: string }[] {
  const dir = dirname(path);
  const re = new RegExp(`^${basename(path).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d{6,})$`);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((f) => ({ m: re.exec(f), f }))
    .filter((x) => x.m)
    .map((x) => ({ n: Number(x.m![1]), file: join(dir, x.f) }))
    .sort((a, b) => a.n - b.n);
}

/** Take the lock file or throw AuditLockError; a lock left by a dead process is taken over. */
export function acquireLock(file: string): () => void {
  try {
    return acquireLockFile(file, `${file}: the audit log`);
  } catch (e) {
    if (e instanceof LockFileError) throw new AuditLockError(e.message);
    throw e;
  }
}

export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* not supported everywhere; the data files are synced regardless */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export interface FileEnds {
  format: LogFormat;
  /** The first record (a segment's `file` header), when it decodes. */
  first: AuditRecord | undefined;
  /** The record before the last one in this file, when there is one (for the tail check). */
  beforeLast?: AuditRecord;
  /** The last complete record. */
  last: AuditRecord | undefined;
  /** Where the complete records end; less than the size when the file ends inside a record. */
  validEnd: number;
  size: number;
}

/**
 * The first and last record of a log file. A torn tail (an interrupted write) is allowed and reported
 * through validEnd; a last record that is complete but does not decode throws AuditRecoveryError
 * (the file was damaged or altered: continuing the chain from it would hide that).
 */
export function readEnds(file: string): FileEnds | undefined {
  if (!existsSync(file)) return undefined;
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return undefined;
    const b0 = Buffer.alloc(1);
    readSync(fd, b0, 0, 1, 0);
    const format = detectFormat(b0[0]);
    if (!format) throw new AuditRecoveryError(`${file}: not an audit log (first byte 0x${b0[0]!.toString(16)})`);
    if (format === 'msgpack') return msgpackEnds(file, readFileSync(file), size);
    return jsonEnds(file, fd, size);
  } finally {
    closeSync(fd);
  }
}

function msgpackEnds(file: string, buf: Buffer, size: number): FileEnds {
  let first: AuditRecord | undefined;
  let last: AuditRecord | undefined;
  let beforeLast: AuditRecord | undefined;
  let validEnd = 0;
  for (const d of decodeRecords(buf, 'msgpack')) {
    if (!d.ok) {
      if (!d.torn) throw new AuditRecoveryError(`${file}: record at byte ${d.start} does not decode (${d.reason}); run 'qmpmux audit verify' and move the file aside`);
      break;
    }
    first ??= d.record;
    beforeLast = last;
    last = d.record;
    validEnd = d.end;
  }
  return { format: 'msgpack', first, beforeLast, last, validEnd, size };
}

const CHUNK = 64 * 1024;

function jsonEnds(file: string, fd: number, size: number): FileEnds {
  // Last line end, then the line before it, reading backwards.
  let tail = Buffer.alloc(0);
  let pos = size;
  let lastNl = -1;
  let prevNl = -1;
  let prev2Nl = -1;
  while (pos > 0 && prev2Nl < 0) {
    const n = Math.min(CHUNK, pos);
    pos -= n;
    const chunk = Buffer.alloc(n);
    readSync(fd, chunk, 0, n, pos);
    tail = Buffer.concat([chunk, tail]);
    if (lastNl < 0) {
      const i = tail.lastIndexOf(0x0a);
      if (i >= 0) lastNl = pos + i;
    }
    if (lastNl >= 0 && prevNl < 0) {
      const i = lastNl - pos > 0 ? tail.lastIndexOf(0x0a, lastNl - pos - 1) : -1;
      if (i >= 0) prevNl = pos + i;
    }
    if (prevNl >= 0) {
      const i = prevNl - pos > 0 ? tail.lastIndexOf(0x0a, prevNl - pos - 1) : -1;
      if (i >= 0) prev2Nl = pos + i;
    }
  }
  const after = lastNl + 1;
  if (after < size) {
    const torn = decodeRecords(tail.subarray(after - pos), 'json', true, after).next().value;
    if (torn && !torn.ok && !torn.torn) throw new AuditRecoveryError(`${file}: byte ${after}: ${torn.reason}; run 'qmpmux audit verify' and move the file aside`);
  }
  if (lastNl < 0) return { format: 'json', first: undefined, last: undefined, validEnd: 0, size };
  const lineStart = prevNl + 1;
  const last = parseLine(file, tail.subarray(lineStart - pos, lastNl - pos), lineStart, true)!;
  // The line before the last (it starts after prev2Nl, or at the file's start).
  const beforeLast = prevNl >= 0 ? parseLine(file, tail.subarray(prev2Nl + 1 - pos, prevNl - pos), prev2Nl + 1, false) : undefined;
  let first = last;
  if (prevNl >= 0) {
    const head = Buffer.alloc(Math.min(size, CHUNK));
    readSync(fd, head, 0, head.length, 0);
    const nl = head.indexOf(0x0a);
    first = (nl >= 0 ? parseLine(file, head.subarray(0, nl), 0, false) : undefined) as AuditRecord;
  }
  return { format: 'json', first, beforeLast, last, validEnd: lastNl + 1, size };
}

function parseLine(file: string, bytes: Buffer, at: number, required: boolean): AuditRecord | undefined {
  const it = decodeRecords(Buffer.concat([bytes, Buffer.from('\n')]), 'json', true, at).next();
  const d = it.value;
  if (d && d.ok) return d.record;
  if (!required) return undefined;
  throw new AuditRecoveryError(`${file}: the last record (byte ${at}) does not decode (${d && !d.ok ? d.reason : 'empty'}); run 'qmpmux audit verify' and move the file aside`);
}
