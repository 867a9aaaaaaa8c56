import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkArguments } from '../src/own-command.ts';

const desc = (r: ReturnType<typeof checkArguments>) => (r.ok ? r.values : r.refusal.desc);

describe('own command arguments are checked as QEMU checks its own', () => {
  const data = { '*since-seq': 'int', '*since-time': 'number', '*names': ['str'] } as const;

  it('checks declared members first, then reports the first unexpected key in QDict order', () => {
    assert.equal(desc(checkArguments(data, { zzz: 1, bar: 2 })), "Parameter 'bar' is unexpected");
    assert.equal(desc(checkArguments(data, { zzz: 1, 'since-seq': 'x' })), "Invalid parameter type for 'since-seq', expected: integer");
    assert.equal(desc(checkArguments(data, { toString: 1 })), "Parameter 'toString' is unexpected");
    assert.equal(desc(checkArguments(data, { 'since-seq': 12345678901234567890n })), "Invalid parameter type for 'since-seq', expected: integer");
    assert.deepEqual(desc(checkArguments(data, { 'since-seq': 9007199254740993n, 'since-time': 1.5, names: [] })), { 'since-seq': 9007199254740992, 'since-time': 1.5, names: [] });
    assert.deepEqual(desc(checkArguments(data, undefined)), {});
    assert.deepEqual(desc(checkArguments(undefined, undefined)), {});
    assert.equal(desc(checkArguments(undefined, { a: 1 })), "Parameter 'a' is unexpected");
  });

  it('names missing members, list elements and nested members by path', () => {
    const d = { id: 'str', '*opts': { level: 'uint8', '*tags': ['str'] } } as const;
    assert.equal(desc(checkArguments(d, {})), "Parameter 'id' is missing");
    assert.equal(desc(checkArguments(d, { id: 1 })), "Invalid parameter type for 'id', expected: string");
    assert.equal(desc(checkArguments(d, { id: 'x', opts: [] })), "Invalid parameter type for 'opts', expected: object");
    assert.equal(desc(checkArguments(d, { id: 'x', opts: {} })), "Parameter 'opts.level' is missing");
    assert.equal(desc(checkArguments(d, { id: 'x', opts: { level: 256 } })), "Parameter 'opts.level' expects uint8_t");
    assert.equal(desc(checkArguments(d, { id: 'x', opts: { level: 1, tags: ['a', 2] } })), "Invalid parameter type for 'opts.tags[1]', expected: string");
    assert.equal(desc(checkArguments(d, { id: 'x', opts: { level: 1, extra: true } })), "Parameter 'opts.extra' is unexpected");
    assert.deepEqual(desc(checkArguments(d, { id: 'x', opts: { level: 7, tags: ['a'] } })), { id: 'x', opts: { level: 7, tags: ['a'] } });
  });

  it('takes each builtin as QEMU does', () => {
    const t = (type: 'bool' | 'null' | 'number' | 'any' | 'int8' | 'uint64', v: unknown) => desc(checkArguments({ v: type }, { v: v as never }));
    assert.deepEqual(t('bool', true), { v: true });
    assert.equal(t('bool', 'true'), "Invalid parameter type for 'v', expected: boolean");
    assert.deepEqual(t('null', null), { v: null });
    assert.equal(t('null', 0), "Invalid parameter type for 'v', expected: null");
    assert.deepEqual(t('number', 3), { v: 3 });
    assert.equal(t('number', '3'), "Invalid parameter type for 'v', expected: number");
    assert.deepEqual(t('any', { a: [1] }), { v: { a: [1] } });
    assert.equal(t('int8', -129), "Parameter 'v' expects int8_t");
    assert.equal(t('int8', 1.5), "Invalid parameter type for 'v', expected: integer");
    assert.equal(t('uint64', 1.5), "Parameter 'v' expects uint64");
    assert.deepEqual(t('uint64', -1), { v: 18446744073709552000 });
  });
});
