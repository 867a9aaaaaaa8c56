// Compiles usage.ts (the type-level tests) on its own with the repository's compiler options:
// every `@ts-expect-error` there must still be an error and everything else must compile.
import assert from 'node:assert/strict';
import { dirname, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { typeDiagnostics as diagnostics } from '@qmpmux/qapi/typecheck';

const here = dirname(fileURLToPath(import.meta.url));


const prelude = "import { QmpClient } from '../src/index.ts';\nexport async function f(qmp: QmpClient) {\n";

describe('typed client (type level)', () => {
  it('usage.ts type-checks: every @ts-expect-error is still an error', () => {
    assert.deepEqual(diagnostics([resolve(here, 'usage.ts')]), []);
  });

  it('is not vacuous: a wrong name, a wrong argument and oob on a non-OOB command are each one error', () => {
    const cases: [string, RegExp][] = [
      ["await qmp.execute('query-statuss');", /TS2769: No overload matches this call/],
      ["await qmp.execute('getfd', { fdname: 3 });", /TS2769: No overload matches this call/],
      ["await qmp.executeOob('stop');", /TS2345: .*'this command does not allow exec-oob'/],
      ["await qmp.execute('stop', undefined, { oob: true });", /TS2769: No overload matches this call/],
      ["const s: string = await qmp.execute('query-status');", /TS2322: Type 'StatusInfo' is not assignable to type 'string'/],
    ];
    const file = resolve(here, '__virtual_bad.ts');
    const errors = diagnostics([], { [file]: `${prelude}${cases.map(([l]) => `  ${l}\n`).join('')}}\n` });
    assert.equal(errors.length, cases.length, errors.join('\n'));
    for (const [i, [line, want]] of cases.entries()) {
      assert.match(errors[i]!, new RegExp(`__virtual_bad\\.ts:${i + 3}:`), line);
      assert.match(errors[i]!.split('\n')[0]!, want, line);
    }
  });
});
