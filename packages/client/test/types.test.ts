// Compiles usage.ts (the type-level tests) on its own with the repository's compiler options:
// every `@ts-expect-error` there must still be an error and everything else must compile.
import assert from 'node:assert/strict';
import { dirname, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');

function compilerOptions(): ts.CompilerOptions {
  const config = ts.readConfigFile(resolve(root, 'tsconfig.base.json'), (p) => ts.sys.readFile(p));
  assert.equal(config.error, undefined);
  return { ...ts.parseJsonConfigFileContent(config.config, ts.sys, root).options, noEmit: true };
}

/** Type-check `files` (plus what they import), with virtual files `extra`. */
function diagnostics(files: string[], extra: Record<string, string> = {}): string[] {
  const options = compilerOptions();
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (p) => extra[p] ?? readFile(p);
  host.fileExists = (p) => p in extra || fileExists(p);
  host.getSourceFile = (p, lang, ...rest) => (p in extra ? ts.createSourceFile(p, extra[p]!, lang) : getSourceFile(p, lang, ...rest));
  const program = ts.createProgram([...files, ...Object.keys(extra)], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const msg = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!d.file || d.start === undefined) return `TS${d.code}: ${msg}`;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${d.file.fileName}:${line + 1}:${character + 1}: TS${d.code}: ${msg}`;
  });
}

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
