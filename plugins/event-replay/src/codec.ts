/**
 * The journal's record framing, no I/O. A segment file is MAGIC followed by records:
 *
 *   u32le payload length | u32le CRC-32 of the payload | payload (msgpackr, one array)
 *
 * Payloads: [0, seq, at, name, raw] an event; [1, seq, at, name, raw] a "latest event" state copy
 * written at the start of each segment (so rotation never loses the state); [2, seq, at] a clean
 * close, carrying the last seq the proxy had assigned. A record that is short, fails its checksum,
 * does not decode or has the wrong shape ends the readable part: everything from there on is a torn
 * tail (or damage) and is cut, never replayed.
 */
import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr';

export const MAGIC = Buffer.from('QMPMUXJ1', 'latin1');
export const RECORD_HEADER_BYTES = 8;
/** No record is larger (an event is at most the core's message limit; this bounds a damaged length). */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

export type JournalRecord =
  | { kind: 'event' | 'state'; seq: number; at: number; name: string; raw: Buffer }
  | { kind: 'close'; seq: number; at: number };

const KIND_CODE = { event: 0, state: 1, close: 2 } as const;
const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeRecord(r: JournalRecord): Buffer {
  const body = r.kind === 'close' ? [KIND_CODE.close, r.seq, r.at] : [KIND_CODE[r.kind], r.seq, r.at, r.name, r.raw];
  const payload = packr.pack(body);
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  payload.copy(out, RECORD_HEADER_BYTES);
  return out;
}

export interface DecodeResult {
  records: JournalRecord[];
  /** Offset just past each record. */
  ends: number[];
  /** Offset just past the last good record: the readable length of the input. */
  end: number;
  /** Why reading stopped before the end of the input, if it did. */
  damage?: string;
}

/** Read records from `buf` starting at `offset` until the end or the first bad record. */
export function decodeRecords(buf: Buffer, offset: number): DecodeResult {
  const records: JournalRecord[] = [];
  const ends: number[] = [];
  let at = offset;
  while (at < buf.length) {
    if (buf.length - at < RECORD_HEADER_BYTES) return { records, ends, end: at, damage: `torn record header at byte ${at}` };
    const len = buf.readUInt32LE(at);
    const sum = buf.readUInt32LE(at + 4);
    if (len === 0 || len > MAX_RECORD_BYTES) return { records, ends, end: at, damage: `bad record length ${len} at byte ${at}` };
    const start = at + RECORD_HEADER_BYTES;
    if (buf.length - start < len) return { records, ends, end: at, damage: `torn record at byte ${at} (${len} bytes declared, ${buf.length - start} present)` };
    const payload = buf.subarray(start, start + len);
    if (crc32(payload) !== sum) return { records, ends, end: at, damage: `checksum mismatch at byte ${at}` };
    const r = toRecord(payload);
    if (!r) return { records, ends, end: at, damage: `undecodable record at byte ${at}` };
    records.push(r);
    at = start + len;
    ends.push(at);
  }
  return { records, ends, end: at };
}

function toRecord(payload: Buffer): JournalRecord | undefined {
  let v: unknown;
  try {
    v = packr.unpack(payload);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v)) return undefined;
  const [code, seq, at, name, raw] = v as unknown[];
  if (!Number.isSafeInteger(seq) || (seq as number) < 0 || typeof at !== 'number' || !Number.isFinite(at)) return undefined;
  if (code === KIND_CODE.close && v.length === 3) return { kind: 'close', seq: seq as number, at };
  if ((code !== KIND_CODE.event && code !== KIND_CODE.state) || v.length !== 5) return undefined;
  if (typeof name !== 'string' || !(raw instanceof Uint8Array) || (seq as number) < 1) return undefined;
  const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  return { kind: code === KIND_CODE.event ? 'event' : 'state', seq: seq as number, at, name, raw: bytes };
}
