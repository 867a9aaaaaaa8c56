import assert from 'node:assert/strict';
import { dirname, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');

function compilerOptions(): ts.CompilerOptions {
  const configPath = resolve(root, 'tsconfig.base.json');
  const config = ts.readConfigFile(configPath, (p) => ts.sys.readFile(p));
  assert.equal(config.error, undefined);
  return { ...ts.parseJsonConfigFileContent(config.config, ts.sys, root).options, noEmit: true };
}

/** Type-check `files` (plus what they import) with the repository's compiler options. */
function diagnostics(files: string[], extra: Record<string, string> = {}): string[] {
  const options = compilerOptions();
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (p) => extra[p] ?? readFile(p);
  host.fileExists = (p) => p in extra || fileExists(p);
  host.getSourceFile = (p, lang, ...rest) =>
    p in extra ? ts.createSourceFile(p, extra[p]!, lang) : getSourceFile(p, lang, ...rest);
  const program = ts.createProgram([...files, ...Object.keys(extra)], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const msg = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!d.file || d.start === undefined) return `TS${d.code}: ${msg}`;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${d.file.fileName}:${line + 1}:${character + 1}: TS${d.code}: ${msg}`;
  });
}

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
