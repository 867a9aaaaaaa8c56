/**
 * The hash chain. Every record carries `prev` (the previous record's hash) and `hash`, the SHA-256 — or,
 * with a key, the HMAC-SHA256 — of the record's canonical JSON without `hash`. The first record of a
 * chain has prev = GENESIS. An unkeyed chain detects corruption and edits by anyone who does not
 * recompute every later hash; a keyed chain also resists those who can rewrite the whole file.
 */
import { createHash, createHmac, hash as oneShot } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AuditFormatError } from './errors.ts';

export const GENESIS = '0'.repeat(64);
export type ChainAlg = 'sha256' | 'hmac-sha256';
export const MIN_KEY_BYTES = 16;

export class Hasher {
  readonly alg: ChainAlg;
  /** A public fingerprint of the key (not the key), so a verifier can tell which key a file needs. */
  readonly keyId: string | undefined;

  constructor(private readonly key?: Buffer) {
    if (key && key.length < MIN_KEY_BYTES) throw new AuditFormatError(`the audit HMAC key is ${key.length} bytes; at least ${MIN_KEY_BYTES} are needed`);
    this.alg = key ? 'hmac-sha256' : 'sha256';
    this.keyId = key ? createHash('sha256').update(createHmac('sha256', key).update('qmpmux-audit key id').digest()).digest('hex').slice(0, 16) : undefined;
  }

  hash(canonical: string): string {
    return this.key ? createHmac('sha256', this.key).update(canonical, 'utf8').digest('hex') : oneShot('sha256', canonical, 'hex');
  }
}

/**
 * The HMAC key, from a file (its bytes, one trailing newline removed) or an environment variable (its
 * UTF-8 bytes). Undefined when neither is given; throws when the one given is missing or empty.
 */
export function loadKey(src: { file?: string; env?: string }): Buffer | undefined {
  if (src.file !== undefined) {
    let b: Buffer;
    try {
      b = readFileSync(src.file);
    } catch (e) {
      throw new AuditFormatError(`cannot read the audit key file ${src.file}: ${(e as Error).message}`);
    }
    if (b.length && b[b.length - 1] === 0x0a) b = b.subarray(0, b.length - (b.length > 1 && b[b.length - 2] === 0x0d ? 2 : 1));
    if (!b.length) throw new AuditFormatError(`the audit key file ${src.file} is empty`);
    return b;
  }
  if (src.env !== undefined) {
    const v = process.env[src.env];
    if (!v) throw new AuditFormatError(`the environment variable ${src.env} (audit key) is not set`);
    return Buffer.from(v, 'utf8');
  }
  return undefined;
}
