/**
 * Verifying a chain record by record, whatever holds the records: log files (verify.ts), a NATS
 * JetStream stream (plugins/nats), anything that can hand them over in chain order. Each record must
 * follow the previous one (seq + 1, prev = its hash), hash to its own `hash` (SHA-256, or HMAC-SHA256
 * with the key), and — when the source says how it stores the record — be stored in exactly the bytes
 * the writer produces. The first record that fails is the break; checking stops there.
 */
import { GENESIS, Hasher, type ChainAlg } from './chain.ts';
import { computeHash, encodeHashed, type AuditRecord, type LogFormat } from './codec.ts';

/** Why a record breaks the chain. `seq`: the record's own seq when it has one. */
export interface ChainBreak {
  seq: number | undefined;
  reason: string;
  /** `seq`: the seq does not follow (missing, repeated or reordered records); `expectedSeq` is set. */
  kind: 'seq' | 'link' | 'alg' | 'hash' | 'bytes' | 'decode';
  expectedSeq?: number;
}

/** How a source stores a record: its bytes and the encoding they should be in. */
export interface StoredBytes {
  format: LogFormat;
  bytes: Buffer;
}

/** Checks records one at a time, in chain order; keeps only the previous record's seq and hash. */
export class ChainVerifier {
  records = 0;
  firstSeq: number | undefined;
  lastSeq: number | undefined;
  /** Hash of the last verified record: keep it elsewhere to detect later truncation. */
  head: string | undefined;
  /** The chain's algorithm, from the last `file` record seen. */
  alg: ChainAlg | undefined;
  /** The first record checked does not follow GENESIS: its link to earlier records is not checked. */
  startsMidChain = false;
  private expectSeq: number | undefined;
  private prevHash: string | undefined;
  private readonly keyed: Hasher | undefined;
  private readonly plain = new Hasher();

  constructor(key?: Buffer) {
    this.keyed = key ? new Hasher(key) : undefined;
  }

  /** The seq the next record must have (undefined before the first). */
  get expectedSeq(): number | undefined {
    return this.expectSeq;
  }

  /** Check the next record; undefined when it continues the chain (and then it is the new head). */
  check(r: AuditRecord, stored?: StoredBytes): ChainBreak | undefined {
    const brk = (kind: ChainBreak['kind'], reason: string, expectedSeq?: number): ChainBreak => ({ seq: r.seq, reason, kind, expectedSeq });
    if (this.expectSeq === undefined) {
      this.startsMidChain = r.prev !== GENESIS;
    } else {
      if (r.seq !== this.expectSeq) return brk('seq', `expected seq ${this.expectSeq}, found ${r.seq}`, this.expectSeq);
      if (r.prev !== this.prevHash) return brk('link', `prev ${r.prev.slice(0, 16)}… is not the hash of record ${this.expectSeq - 1} (${this.prevHash!.slice(0, 16)}…)`);
    }
    const keyed = this.keyed;
    if (r.type === 'file') {
      const alg = r.alg;
      if (alg !== 'sha256' && alg !== 'hmac-sha256') return brk('alg', `unknown chain algorithm ${JSON.stringify(alg)}`);
      if (alg === 'hmac-sha256' && !keyed) return brk('alg', 'this chain is keyed (HMAC-SHA256): give its key with --key-file or --key-env');
      if (alg === 'sha256' && keyed) return brk('alg', 'a key was given but this part of the chain is not keyed (plain SHA-256)');
      if (keyed && r.keyId !== keyed.keyId) return brk('alg', `written with key id ${String(r.keyId)}, not with the key given (id ${keyed.keyId})`);
      this.alg = alg;
    }
    const hasher = (this.alg ?? (keyed ? 'hmac-sha256' : 'sha256')) === 'hmac-sha256' ? keyed : this.plain;
    if (!hasher) return brk('alg', 'this chain is keyed (HMAC-SHA256): give its key with --key-file or --key-env');
    const want = computeHash(r, hasher);
    if (want !== r.hash) return brk('hash', `hash mismatch: the record says ${r.hash.slice(0, 16)}…, its content hashes to ${want.slice(0, 16)}…`);
    // Equal content in other bytes (`\u000B` for `\u000b`, `1E5` for `1e5`) is still an alteration.
    if (stored && !encodeHashed(stored.format, r).equals(stored.bytes)) return brk('bytes', 'the bytes are not as the writer encodes this record (altered encoding)');
    this.records++;
    this.firstSeq ??= r.seq;
    this.lastSeq = r.seq;
    this.head = r.hash;
    this.expectSeq = r.seq + 1;
    this.prevHash = r.hash;
    return undefined;
  }
}

/**
 * One item of a source: a record (and how it is stored), or something there that is not a (valid)
 * record, with the seq it claims when it has one. `at` says where.
 */
export type ChainItem<At> = { at: At; record: AuditRecord; stored?: StoredBytes } | { at: At; record?: undefined; reason: string; seq?: number };

export interface ChainReport<At> {
  ok: boolean;
  records: number;
  firstSeq?: number;
  lastSeq?: number;
  head?: string;
  alg?: ChainAlg;
  /** The first record did not follow GENESIS: the chain given starts in the middle. */
  startsMidChain: boolean;
  /** The first record that fails, and where. */
  broken?: ChainBreak & { at: At };
}

/** Verify a chain from any source of records in chain order (an array, a generator, a stream's consumer). */
export async function verifyChain<At>(items: AsyncIterable<ChainItem<At>> | Iterable<ChainItem<At>>, opts: { key?: Buffer } = {}): Promise<ChainReport<At>> {
  const v = new ChainVerifier(opts.key);
  let broken: ChainReport<At>['broken'];
  for await (const item of items) {
    const b: ChainBreak | undefined = item.record ? v.check(item.record, item.stored) : { seq: item.seq, reason: item.reason, kind: 'decode', expectedSeq: v.expectedSeq };
    if (b) {
      broken = { ...b, at: item.at };
      break;
    }
  }
  return { ok: !broken, records: v.records, firstSeq: v.firstSeq, lastSeq: v.lastSeq, head: v.head, alg: v.alg, startsMidChain: v.startsMidChain, broken };
}
