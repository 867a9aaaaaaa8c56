/** verifyChain: the chain's checks over records from any source (here: records handed over by a generator, as a NATS consumer would). */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { encodeHashed, recordValue, verifyChain, type AuditRecord, type ChainItem } from '../src/index.ts';
import { openWriter, records, tempDir } from './helpers.ts';

const tmp = tempDir();
after(() => tmp.rm());
let n = 0;

async function sample(count: number, key?: Buffer): Promise<AuditRecord[]> {
  const path = join(tmp.dir, `${n++}`, 'audit.log');
  const w = openWriter(path, { key });
  for (let i = 0; i < count; i++) w.append('command', recordValue({ client: i, hmp: { line: `p ${i}`, name: 'print' } }) as Record<string, unknown>);
  await w.close();
  return records(path);
}

/** Records as a remote source hands them over: one at a time, asynchronously, each with its position there. */
async function* remote(recs: AuditRecord[], bytes?: (r: AuditRecord, i: number) => Buffer): AsyncGenerator<ChainItem<number>> {
  for (const [i, r] of recs.entries()) {
    await Promise.resolve();
    yield { at: 100 + i, record: r, stored: bytes ? { format: 'json', bytes: bytes(r, i) } : undefined };
  }
}

describe('verifyChain over records from any source', () => {
  it('verifies an intact chain and reports its extent and head', async () => {
    const recs = await sample(6);
    const r = await verifyChain(remote(recs, (x) => encodeHashed('json', x)));
    assert.equal(r.ok, true, JSON.stringify(r.broken));
    assert.deepEqual([r.records, r.firstSeq, r.lastSeq, r.head, r.alg, r.startsMidChain], [7, 1, 7, recs.at(-1)!.hash, 'sha256', false]);
  });

  it('names a missing record by the seq expected and where the next one is', async () => {
    const recs = await sample(6);
    const r = await verifyChain(remote(recs.filter((x) => x.seq !== 4)));
    assert.equal(r.ok, false);
    assert.equal(r.records, 3);
    assert.deepEqual([r.broken!.kind, r.broken!.expectedSeq, r.broken!.seq, r.broken!.at], ['seq', 4, 5, 103]);
    assert.equal(r.broken!.reason, 'expected seq 4, found 5');
  });

  it('names an altered record (content, then only its stored bytes) by its seq', async () => {
    const recs = await sample(6);
    const altered = recs.map((x) => (x.seq === 3 ? { ...x, client: 99 } : x));
    const r = await verifyChain(remote(altered));
    assert.deepEqual([r.ok, r.broken!.kind, r.broken!.seq, r.broken!.at], [false, 'hash', 3, 102]);
    // Same content, other bytes: `\u0070` for `p` in the stored line.
    const b = await verifyChain(remote(recs, (x) => (x.seq === 5 ? Buffer.from(encodeHashed('json', x).toString().replace('"p ', '"\\u0070 ')) : encodeHashed('json', x))));
    assert.deepEqual([b.ok, b.broken!.kind, b.broken!.seq], [false, 'bytes', 5]);
  });

  it('reports a repeated record, an item that is not a record, and a chain starting mid-way', async () => {
    const recs = await sample(4);
    const dup = await verifyChain(remote([...recs.slice(0, 3), recs[2]!, ...recs.slice(3)]));
    assert.deepEqual([dup.broken!.kind, dup.broken!.expectedSeq, dup.broken!.seq], ['seq', 4, 3]);
    const junk = await verifyChain<number>([{ at: 1, record: recs[0]! }, { at: 2, reason: 'not valid JSON' }]);
    assert.deepEqual([junk.broken!.kind, junk.broken!.seq, junk.broken!.expectedSeq, junk.broken!.reason], ['decode', undefined, 2, 'not valid JSON']);
    const mid = await verifyChain(remote(recs.slice(2)));
    assert.deepEqual([mid.ok, mid.startsMidChain, mid.firstSeq], [true, true, 3]);
  });

  it('needs the key of a keyed chain', async () => {
    const key = Buffer.from('0123456789abcdef0123456789abcdef');
    const recs = await sample(3, key);
    assert.equal((await verifyChain(remote(recs), { key })).ok, true);
    const without = await verifyChain(remote(recs));
    assert.deepEqual([without.broken!.kind, without.broken!.seq], ['alg', 1]);
  });
});
