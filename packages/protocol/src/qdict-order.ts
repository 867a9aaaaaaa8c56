/**
 * QEMU's QDict iteration order (qobject/qdict.c), which is the order QEMU
 * prints object members in and checks QMP envelope members in.
 *
 * A QDict has 512 buckets; a key's bucket is tdb_hash(key) % 512, computed
 * over its modified-UTF-8 bytes. Iteration walks buckets in ascending order,
 * and a bucket's list has the most recently inserted key first.
 */
import { forEachModUtf8Byte } from './utf8.ts';

export const QDICT_BUCKETS = 512;

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c >= 0x80) return false;
  }
  return true;
}

/** tdb_hash() of QEMU's qdict.c, as an unsigned 32-bit value. */
export function qdictHash(key: string): number {
  let h: number;
  if (isAscii(key)) {
    h = Math.imul(0x238f13af, key.length) >>> 0;
    for (let i = 0; i < key.length; i++) {
      h = (h + (key.charCodeAt(i) << ((i * 5) % 24))) >>> 0;
    }
  } else {
    let acc = 0;
    const len = forEachModUtf8Byte(key, (b, i) => {
      acc = (acc + (b << ((i * 5) % 24))) >>> 0;
    });
    h = ((Math.imul(0x238f13af, len) >>> 0) + acc) >>> 0;
  }
  return (Math.imul(1103515243, h) + 12345) >>> 0;
}

/** The bucket (0..511) a key lands in. */
export function qdictBucket(key: string): number {
  return qdictHash(key) % QDICT_BUCKETS;
}

/**
 * Keys in the order QEMU would print them, given their insertion order.
 * A repeated key keeps the position of its first insertion (qdict_put
 * replaces the value in place) and appears once.
 */
export function qdictOrder(keys: readonly string[]): string[] {
  const n = keys.length;
  if (n < 2) return keys.slice();
  const seen = new Set<string>();
  const entries: { key: string; bucket: number; seq: number }[] = [];
  for (let i = 0; i < n; i++) {
    const key = keys[i]!;
    if (seen.has(key)) continue;
    seen.add(key);
    entries.push({ key, bucket: qdictBucket(key), seq: i });
  }
  entries.sort((a, b) => a.bucket - b.bucket || b.seq - a.seq);
  return entries.map((e) => e.key);
}
