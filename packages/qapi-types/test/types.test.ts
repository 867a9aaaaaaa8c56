import assert from 'node:assert/strict';
import { dirname, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { typeDiagnostics as diagnostics } from '@qmpmux/qapi/typecheck';

const here = dirname(fileURLToPath(import.meta.url));


describe('generated QMP types', () => {
  it('compile, and the usage file type-checks (every @ts-expect-error is still an error)', () => {
    assert.deepEqual(diagnostics([resolve(here, 'usage.ts')]), []);
  });

  it('reject a wrong value (the check is not vacuous)', () => {
    const bad = resolve(here, '__virtual_bad.ts');
    const errors = diagnostics([], {
      [bad]: "import type { AddfdInfo } from '../src/index.ts';\nexport const x: AddfdInfo = { 'fdset-id': 1, fd: 'three' };\n",
    });
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0]!, /__virtual_bad\.ts:2:46: TS2322: Type 'string' is not assignable to type 'number \| bigint'/);
  });
});
