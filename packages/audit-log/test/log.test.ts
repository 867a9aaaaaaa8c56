/** The audit log library without QEMU: chain, tamper detection, rotation, recovery, durability, conversion. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AuditLockError,
  AuditRecoveryError,
  GENESIS,
  Hasher,
  canonicalJson,
  computeHash,
  convertFile,
  decodeRecords,
  encodeHashed,
  listSegments,
  recordValue,
  verifyFiles,
  verifyLogFiles,
  parseLogFile,
  type LogFormat,
} from '../src/index.ts';
import { openWriter, records, tempDir } from './helpers.ts';

const tmp = tempDir();
after(() => tmp.rm());
let n = 0;
const file = (name = 'audit.log') => join(tmp.dir, `${n++}`, name);

function writeSample(path: string, format: LogFormat, count: number, key?: Buffer): void {
  const w = openWriter(path, { format, key });
  for (let i = 0; i < count; i++) {
    w.append('command', recordValue({ client: i, principal: i % 2 ? 'alice' : undefined, hmp: { line: `p ${i}\u000b`, name: 'print' }, big: 10n ** 20n, f: 0.1 * i }) as Record<string, unknown>);
  }
  void w.close();
}

describe('the hash chain', () => {
  it('links every record to the previous one from GENESIS and verifies', async () => {
    const path = file();
    writeSample(path, 'json', 5);
    const recs = records(path);
    assert.deepEqual(
      recs.map((r) => [r.seq, r.type]),
      [[1, 'file'], [2, 'command'], [3, 'command'], [4, 'command'], [5, 'command'], [6, 'command']],
    );
    assert.equal(recs[0]!.prev, GENESIS);
    for (let i = 1; i < recs.length; i++) assert.equal(recs[i]!.prev, recs[i - 1]!.hash);
    for (const r of recs) assert.equal(computeHash(r, new Hasher()), r.hash);
    assert.equal(recs[1]!.big, '100000000000000000000', 'bigints are stored as decimal strings');
    const v = verifyFiles([path]);
    assert.equal(v.ok, true, JSON.stringify(v.broken));
    assert.equal(v.records, 6);
    assert.equal(v.head, recs.at(-1)!.hash);
  });

  it('hashes canonical JSON: key order and format do not matter', () => {
    assert.equal(canonicalJson({ b: 1, a: [{ d: null, c: 'x' }], u: undefined }), '{"a":[{"c":"x","d":null}],"b":1}');
  });

  it('with a key, verify needs the same key and refuses a plain SHA-256 downgrade', () => {
    const path = file();
    const key = Buffer.from('0123456789abcdef0123456789abcdef');
    writeSample(path, 'json', 3, key);
    assert.equal(verifyFiles([path], { key }).ok, true);
    const without = verifyFiles([path]);
    assert.equal(without.ok, false);
    assert.match(without.broken!.reason, /keyed/);
    const wrong = verifyFiles([path], { key: Buffer.from('another key of 16+ bytes') });
    assert.match(wrong.broken!.reason, /key id/);
    // Recompute the whole file without the key: it verifies as plain SHA-256, never with the key.
    const plainPath = file();
    writeSample(plainPath, 'json', 3);
    assert.match(verifyFiles([plainPath], { key }).broken!.reason, /not keyed/);
  });
});

describe('tamper detection', () => {
  for (const format of ['json', 'msgpack'] as const) {
    it(`${format}: flipping any one byte is detected at the record holding it`, () => {
      const path = file();
      writeSample(path, format, 6);
      const orig = readFileSync(path);
      const ranges = [...decodeRecords(orig, format)].map((d) => [d.start, d.end] as const);
      const lastStart = ranges.at(-1)![0];
      let tornOnly = 0;
      for (let i = 0; i < orig.length; i++) {
        for (const mask of [0x01, 0x20, 0x80]) {
          const bad = Buffer.from(orig);
          bad[i] = bad[i]! ^ mask;
          const v = verifyLogFiles([parseLogFile(path, bad)]);
          const holder = ranges.find(([s, e]) => i >= s && i < e)!;
          if (v.ok) {
            // A msgpack length damaged in the last record can look like a write cut short by a crash:
            // reported as torn, never as clean.
            assert.ok(format === 'msgpack' && i >= lastStart && v.torn, `byte ${i} ^ 0x${mask.toString(16)} undetected`);
            tornOnly++;
            continue;
          }
          assert.equal(v.broken!.offset, holder[0], `byte ${i} ^ 0x${mask.toString(16)}: broken record named at ${v.broken!.offset}, expected ${holder[0]} (${v.broken!.reason})`);
        }
      }
      if (format === 'json') assert.equal(tornOnly, 0);
      assert.ok(tornOnly <= 3, `${tornOnly} flips only reported as torn`);
    });
  }

  it('names a deleted record and a missing middle segment', () => {
    const path = file();
    writeSample(path, 'json', 4);
    const lines = readFileSync(path, 'utf8').split('\n');
    lines.splice(2, 1);
    writeFileSync(path, lines.join('\n'));
    const v = verifyFiles([path]);
    assert.equal(v.broken!.line, 3);
    assert.match(v.broken!.reason, /expected seq 3, found 4/);
  });
});

describe('rotation', () => {
  it('keeps one chain across files, in any order given, and across a reopen', async () => {
    const path = file();
    let w = openWriter(path, { rotateBytes: 600 });
    for (let i = 0; i < 20; i++) w.append('command', { i, pad: 'x'.repeat(100) });
    await w.close();
    w = openWriter(path, { rotateBytes: 600, format: 'msgpack' }); // another format: the json file is rotated away first
    for (let i = 0; i < 20; i++) w.append('command', { i, pad: 'y'.repeat(100) });
    await w.close();
    const segs = listSegments(path);
    assert.ok(segs.length >= 5, `${segs.length} segments`);
    const all = [...segs.map((s) => s.file), path];
    const shuffled = [...all].reverse();
    const v = verifyFiles(shuffled);
    assert.equal(v.ok, true, JSON.stringify(v.broken));
    assert.equal(v.records, v.lastSeq);
    // Each file begins with a `file` record linked to the end of the previous file.
    const byFile = all.map(records);
    byFile.forEach((recs, i) => {
      assert.equal(recs[0]!.type, 'file');
      assert.equal(recs[0]!.segment, i < segs.length ? segs[i]!.n : segs.length + 1);
      if (i) assert.equal(recs[0]!.prev, byFile[i - 1]!.at(-1)!.hash);
    });
    // Drop a middle segment: the gap is named.
    const missing = verifyFiles(all.filter((_, i) => i !== 2));
    assert.equal(missing.ok, false);
    assert.match(missing.broken!.reason, /missing/);
  });
});

describe('recovery and locking', () => {
  it('cuts off a torn last record on reopen and continues the chain', async () => {
    const path = file();
    writeSample(path, 'json', 3);
    appendFileSync(path, '{"seq":5,"time":"2024');
    const v1 = verifyFiles([path]);
    assert.equal(v1.ok, true);
    assert.ok(v1.torn, 'reported as torn');
    const w = openWriter(path);
    w.append('command', { after: 'crash' });
    await w.close();
    const v2 = verifyFiles([path]);
    assert.equal(v2.ok, true, JSON.stringify(v2.broken));
    assert.equal(v2.torn, undefined);
    assert.deepEqual(records(path).slice(-1).map((r) => r.after), ['crash']);
  });

  it('refuses to continue from a damaged last record, rather than cut it off', () => {
    const path = file();
    writeSample(path, 'json', 3);
    const b = readFileSync(path);
    b[b.length - 1] = 0x20; // the final line end
    writeFileSync(path, b);
    assert.throws(() => openWriter(path), AuditRecoveryError);
    assert.equal(readFileSync(path).length, b.length, 'nothing cut off');
  });

  it('refuses to continue a log whose last record was edited so that it still parses (seq, time, or a recomputed hash)', async () => {
    for (const format of ['json', 'msgpack'] as const) {
      for (const edit of ['seq', 'time', 'rehash'] as const) {
        const path = file();
        const w = openWriter(path, { format });
        for (let i = 0; i < 3; i++) w.append('command', { n: i });
        await w.close();
        const recs = records(path);
        const last = { ...recs.at(-1)! } as Record<string, unknown>;
        if (edit === 'seq') last.seq = (last.seq as number) + 5;
        if (edit === 'time') last.time = '2000-01-01T00:00:00.000Z';
        let body = { ...last };
        delete body.hash;
        if (edit === 'rehash') {
          // seq changed and the hash recomputed: it hashes to itself, but no longer follows the record before.
          body = { ...body, seq: (body.seq as number) + 1 };
          last.seq = body.seq;
          last.hash = computeHash(body as never, new Hasher());
        }
        const others = recs.slice(0, -1).map((r) => encodeHashed(format, r));
        writeFileSync(path, Buffer.concat([...others, encodeHashed(format, last as never)]));
        assert.throws(() => openWriter(path, { format }), (e: unknown) => e instanceof AuditRecoveryError && /the last record/.test((e as Error).message), `${format} ${edit}`);
      }
    }
  });

  it('one writer at a time; a lock left by a dead process is taken over', async () => {
    const path = file();
    const w = openWriter(path);
    assert.throws(() => openWriter(path), AuditLockError);
    await w.close();
    writeFileSync(`${path}.lock`, '999999999\n');
    const w2 = openWriter(path);
    await w2.close();
    assert.equal(existsSync(`${path}.lock`), false);
  });
});

describe('durability', () => {
  it('always: whenDurable resolves for every record; batch: at most maxRecords wait for a flush', async () => {
    const path = file();
    const w = openWriter(path, { fsync: 'always' });
    const seqs = Array.from({ length: 50 }, (_, i) => w.append('command', { i }).seq);
    await Promise.all(seqs.map((s) => w.whenDurable(s)));
    await w.close();
    const path2 = file();
    const b = openWriter(path2, { fsync: 'batch', batchMaxRecords: 10, batchMaxDelayMs: 60_000 });
    const s2 = Array.from({ length: 25 }, (_, i) => b.append('command', { i }).seq);
    // 25 records with batches of 10: the first 20 become durable without waiting for the 60 s timer.
    await b.whenDurable(s2[19]!);
    await b.close();
  });
});

describe('convert', () => {
  it('json -> msgpack -> json keeps every hash and the bytes', () => {
    const path = file();
    writeSample(path, 'json', 4);
    const mp = join(tmp.dir, `${n++}.mp`);
    const back = join(tmp.dir, `${n++}.json`);
    assert.equal(convertFile(path, mp, 'msgpack').records, 5);
    assert.equal(verifyFiles([mp]).ok, true);
    assert.ok(statSync(mp).size < statSync(path).size);
    convertFile(mp, back, 'json');
    assert.deepEqual(readFileSync(back), readFileSync(path));
    assert.throws(() => convertFile(path, back, 'json'), /exists/);
    assert.ok(readdirSync(tmp.dir).every((f) => !f.includes('.tmp-')));
  });
});
