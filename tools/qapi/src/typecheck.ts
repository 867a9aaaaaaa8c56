/**
 * Type-check TypeScript files with the repository's compiler options (tsconfig.base.json), for the
 * type-level tests of the generated QMP types and of the typed client.
 */
import assert from 'node:assert/strict';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

function compilerOptions(): ts.CompilerOptions {
  const config = ts.readConfigFile(resolve(root, 'tsconfig.base.json'), (p) => ts.sys.readFile(p));
  assert.equal(config.error, undefined);
  return { ...ts.parseJsonConfigFileContent(config.config, ts.sys, root).options, noEmit: true };
}

/** Diagnostics of `files` (plus what they import) and of virtual files `extra` (path → text), as `file:line:col: TSnnnn: message`. */
export function typeDiagnostics(files: string[], extra: Record<string, string> = {}): string[] {
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
