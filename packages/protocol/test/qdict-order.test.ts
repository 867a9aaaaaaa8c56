/**
 * QDict iteration order (qobject/qdict.c). Orders marked "observed" were
 * seen in real QEMU 7.2 output.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { qdictBucket, qdictHash, qdictOrder, QDICT_BUCKETS } from '../src/index.ts';

function permutations<T>(xs: readonly T[]): T[][] {
  if (xs.length <= 1) return [xs.slice()];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

describe('qdictOrder', () => {
  const observed: [string, string[]][] = [
    ['a return', ['return', 'id']],
    ['an error', ['id', 'error']],
    ['an error body', ['class', 'desc']],
    ['an event', ['timestamp', 'event', 'data']],
    ['a timestamp', ['seconds', 'microseconds']],
    ['an add-fd return', ['fd', 'fdset-id']],
    ['a client id {"b":1,"a":2}', ['a', 'b']],
  ];
  for (const [what, order] of observed) {
    it(`orders ${what} as ${order.join(', ')} whatever the insertion order (observed)`, () => {
      for (const p of permutations(order)) assert.deepEqual(qdictOrder(p), order);
    });
  }

  it('orders keys of one bucket most recently inserted first (observed for k10, k11, k12)', () => {
    assert.equal(qdictBucket('k10'), qdictBucket('k11'));
    assert.equal(qdictBucket('k11'), qdictBucket('k12'));
    assert.deepEqual(qdictOrder(['k10', 'k11', 'k12']), ['k12', 'k11', 'k10']);
    assert.deepEqual(qdictOrder(['k12', 'k10', 'k11']), ['k11', 'k10', 'k12']);
    // QEMU's VersionTriple is built major, minor, micro and prints micro before minor.
    assert.deepEqual(qdictOrder(['major', 'minor', 'micro']), ['micro', 'minor', 'major']);
  });

  it('keeps one entry per key, at the first insertion', () => {
    assert.deepEqual(qdictOrder(['k10', 'k11', 'k10']), ['k11', 'k10']);
  });

  it('walks buckets in ascending order', () => {
    const keys = Array.from({ length: 200 }, (_, i) => `key-${i}`);
    const buckets = qdictOrder(keys).map(qdictBucket);
    assert.deepEqual(buckets, [...buckets].sort((a, b) => a - b));
  });

  it('computes tdb_hash over the modified UTF-8 bytes (U+0000 as C0 80)', () => {
    // Reference values computed by hand from the algorithm in QMP-NOTES §1.1.
    const reference = (bytes: number[]) => {
      let h = Math.imul(0x238f13af, bytes.length) >>> 0;
      bytes.forEach((b, i) => (h = (h + (b << ((i * 5) % 24))) >>> 0));
      return (Math.imul(1103515243, h) + 12345) >>> 0;
    };
    assert.equal(qdictHash('execute'), reference([...Buffer.from('execute')]));
    assert.equal(qdictHash('é😀'), reference([0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80]));
    assert.equal(qdictHash('a\u0000'), reference([0x61, 0xc0, 0x80]));
    assert.equal(qdictBucket('é😀'), qdictHash('é😀') % QDICT_BUCKETS);
  });
});
