/** docs/errors.md lists every code of the catalog with its class and text, and nothing else. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QMPMUX_ERRORS } from '../src/errors.ts';

const doc = readFileSync(resolve(dirname(fileURLToPath(import.meta.url)), '../../../docs/errors.md'), 'utf8');
const rows = new Map([...doc.matchAll(/^\| `([A-Z_]+)` \| (\w+) \| (.*) \|$/gm)].map((m) => [m[1]!, { cls: m[2]!, text: m[3]! }]));

describe('docs/errors.md', () => {
  it('has one row per catalog code, with its class and its text', () => {
    assert.deepEqual([...rows.keys()].sort(), Object.keys(QMPMUX_ERRORS).sort());
    for (const [code, e] of Object.entries(QMPMUX_ERRORS)) {
      const row = rows.get(code)!;
      assert.equal(row.cls, e.cls, code);
      const args = ['‹A›', '‹B›', '‹C›'].slice(0, e.desc.length);
      const text = (e.desc as (...a: string[]) => string)(...args).replace(/\|/g, '\\|');
      assert.ok(row.text.startsWith(text), `${code}: the documented text starts with ${text}`);
    }
  });
});
