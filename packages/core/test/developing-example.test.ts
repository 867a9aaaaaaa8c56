/** The example plugin in docs/DEVELOPING.md compiles against the contract, unchanged. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { typeDiagnostics } from '@qmpmux/qapi/typecheck';

const here = dirname(fileURLToPath(import.meta.url));

describe('docs/DEVELOPING.md', () => {
  it('its example plugin type-checks', () => {
    const doc = readFileSync(resolve(here, '../../../docs/DEVELOPING.md'), 'utf8');
    const code = /### A small plugin\n```ts\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(code, 'the example is there');
    const file = resolve(here, '__developing_example.ts');
    const src = code.replace("from '@qmpmux/core'", "from '../src/index.ts'");
    assert.deepEqual(typeDiagnostics([], { [file]: src }), []);
  });
});
