/** Reading whole log files for verify, show and convert: decode every record and put files in chain order. */
import { readFileSync } from 'node:fs';
import { decodeRecords, detectFormat, type AuditRecord, type Decoded, type LogFormat } from './codec.ts';

export interface LogFile {
  file: string;
  /** Undefined for an empty file or one in no known format. */
  format: LogFormat | undefined;
  size: number;
  items: Decoded[];
  /** The file's bytes. */
  buf: Buffer;
}

export function readLogFile(file: string): LogFile {
  return parseLogFile(file, readFileSync(file));
}

/** Decode a log file's bytes (already read). */
export function parseLogFile(file: string, buf: Buffer): LogFile {
  const format = detectFormat(buf[0]);
  if (!format) {
    const items: Decoded[] = buf.length ? [{ ok: false, start: 0, end: buf.length, torn: false, reason: `not an audit log (first byte 0x${buf[0]!.toString(16)})` }] : [];
    return { file, format, size: buf.length, items, buf };
  }
  return { file, format, size: buf.length, items: [...decodeRecords(buf, format)], buf };
}

/**
 * Files in chain order: by the seq of their first readable record (so `audit.log*` in any order works);
 * files with no readable record keep their given order, after the others.
 */
export function orderFiles(files: LogFile[]): LogFile[] {
  const key = (f: LogFile) => {
    const first = f.items.find((d) => d.ok);
    return first && first.ok ? first.record.seq : Number.POSITIVE_INFINITY;
  };
  return files
    .map((f, i) => ({ f, i, k: key(f) }))
    .sort((a, b) => a.k - b.k || a.i - b.i)
    .map((x) => x.f);
}

/** Every complete record of one file, in file order (a torn or unreadable record is skipped). */
export function readRecords(file: string): AuditRecord[] {
  const out: AuditRecord[] = [];
  for (const d of readLogFile(file).items) if (d.ok) out.push(d.record);
  return out;
}
