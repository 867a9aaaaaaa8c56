/**
 * Records on disk: JSON lines (one record per line) or a sequence of msgpack maps. Both carry the same
 * members; the hash covers the canonical JSON (canonical.ts), so a record converted between formats
 * keeps its hash. The format of a file is told by its first byte: `{` for JSON, a msgpack map otherwise.
 */
import { Packr, Unpackr } from 'msgpackr';
import { canonicalJson } from './canonical.ts';
import type { Hasher } from './chain.ts';

export type LogFormat = 'json' | 'msgpack';

/** Members every record has; the rest depends on `type`. */
export interface AuditRecord {
  seq: number;
  time: string;
  type: string;
  prev: string;
  hash: string;
  [member: string]: unknown;
}

const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** Hash a record (everything but `hash`) and encode it with its hash. */
export function encodeRecord(format: LogFormat, body: Omit<AuditRecord, 'hash'>, hasher: Hasher): { bytes: Buffer; hash: string } {
  const canonical = canonicalJson(body);
  const hash = hasher.hash(canonical);
  if (format === 'json') return { bytes: Buffer.from(jsonLine(canonical, hash), 'utf8'), hash };
  return { bytes: packr.pack({ ...body, hash }), hash };
}

/** Encode a record that already carries its hash (conversion, and verify's check of the bytes). */
export function encodeHashed(format: LogFormat, rec: AuditRecord): Buffer {
  if (format === 'msgpack') return packr.pack(rec);
  const { hash, ...body } = rec;
  return Buffer.from(jsonLine(canonicalJson(body), hash), 'utf8');
}

/** A JSON line: the canonical JSON of the record without its hash, then the hash as the last member. */
function jsonLine(canonical: string, hash: string): string {
  return `${canonical.slice(0, -1)},"hash":${JSON.stringify(hash)}}\n`;
}

/** The hash a record should have, computed from its other members. */
export function computeHash(rec: AuditRecord, hasher: Hasher): string {
  const { hash: _omit, ...body } = rec;
  return hasher.hash(canonicalJson(body));
}

export function detectFormat(first: number | undefined): LogFormat | undefined {
  if (first === undefined) return undefined;
  if (first === 0x7b) return 'json';
  if ((first >= 0x80 && first <= 0x8f) || first === 0xde || first === 0xdf) return 'msgpack';
  return undefined;
}

export type Decoded =
  | { ok: true; record: AuditRecord; start: number; end: number; line?: number }
  /** `torn`: the data ends inside a record (an interrupted write). */
  | { ok: false; start: number; end: number; line?: number; torn: boolean; reason: string };

/** A record has the members every record has, of the right types. */
export function checkShape(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not an object';
  const r = v as Record<string, unknown>;
  if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 1) return 'no valid seq';
  if (typeof r.time !== 'string') return 'no time';
  if (typeof r.type !== 'string') return 'no type';
  if (typeof r.prev !== 'string' || !/^[0-9a-f]{64}$/.test(r.prev)) return 'no valid prev';
  if (typeof r.hash !== 'string' || !/^[0-9a-f]{64}$/.test(r.hash)) return 'no valid hash';
  return undefined;
}

/**
 * Every record in `buf`, in order, with its byte range. JSON: a line that does not parse is reported
 * and reading goes on at the next line; a last line without its newline is torn. msgpack: reading stops
 * at the first record that does not decode (nothing after it can be framed). `final`: the data is the
 * whole file (a partial last record is torn); otherwise it is a prefix and a partial record ends the
 * scan silently (following a growing file).
 */
export function* decodeRecords(buf: Buffer, format: LogFormat, final = true, baseOffset = 0, baseLine = 1): Generator<Decoded> {
  if (format === 'json') {
    let pos = 0;
    let line = baseLine;
    while (pos < buf.length) {
      const nl = buf.indexOf(0x0a, pos);
      if (nl < 0) {
        if (final) yield tornJson(buf, pos, baseOffset, line);
        return;
      }
      const text = buf.toString('utf8', pos, nl);
      let v: unknown;
      let reason: string | undefined;
      try {
        v = JSON.parse(text);
        reason = checkShape(v);
      } catch (e) {
        reason = `not valid JSON (${(e as Error).message})`;
      }
      if (reason) yield { ok: false, start: baseOffset + pos, end: baseOffset + nl + 1, line, torn: false, reason };
      else yield { ok: true, record: v as AuditRecord, start: baseOffset + pos, end: baseOffset + nl + 1, line };
      pos = nl + 1;
      line++;
    }
    return;
  }
  const items: Decoded[] = [];
  let failure: Decoded | undefined;
  try {
    unpackr.unpackMultiple(buf, (value: unknown, start?: number, end?: number) => {
      const reason = checkShape(value);
      if (reason) {
        failure = { ok: false, start: baseOffset + start!, end: baseOffset + end!, torn: false, reason };
        return false; // stop: no framing to trust after a bad record
      }
      items.push({ ok: true, record: value as AuditRecord, start: baseOffset + start!, end: baseOffset + end! });
    });
  } catch (e) {
    const err = e as Error & { incomplete?: boolean; lastPosition?: number };
    const at = items.length ? items[items.length - 1]!.end - baseOffset : 0;
    if (!err.incomplete) failure = { ok: false, start: baseOffset + at, end: baseOffset + buf.length, torn: false, reason: `not valid msgpack (${err.message})` };
    else if (final) {
      // `hash` is a record's last member: a write cut short never holds a whole one. If the rest does,
      // a damaged length made a complete record look unfinished.
      const torn = !holdsWholeHash(buf.subarray(at));
      failure = { ok: false, start: baseOffset + at, end: baseOffset + buf.length, torn, reason: torn ? 'the file ends inside a record' : 'a record does not decode (a length in it is damaged)' };
    }
  }
  yield* items;
  if (failure) yield failure;
}

/**
 * The end of a JSON file without a line end. A write cut short leaves a prefix of a record, never a
 * whole record followed by something else: that is a damaged line end, not a torn write.
 */
function tornJson(buf: Buffer, pos: number, baseOffset: number, line: number): Decoded {
  const range = { start: baseOffset + pos, end: baseOffset + buf.length, line };
  try {
    JSON.parse(buf.toString('utf8', pos, buf.length - 1));
    return { ok: false, ...range, torn: false, reason: 'a complete record whose line end is damaged' };
  } catch {
    return { ok: false, ...range, torn: true, reason: 'the file ends inside a record (no line end)' };
  }
}

const HASH_KEY = Buffer.from([0xa4, 0x68, 0x61, 0x73, 0x68]); // msgpack fixstr "hash"

function holdsWholeHash(region: Buffer): boolean {
  for (let i = region.indexOf(HASH_KEY); i >= 0; i = region.indexOf(HASH_KEY, i + 1)) {
    if (region.length - (i + HASH_KEY.length) >= 2 + 64) return true; // str8 header + 64 hex digits
  }
  return false;
}
