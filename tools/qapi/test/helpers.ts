import assert from 'node:assert/strict';
import { parseSchemaFile, QapiError, resolveSchema, type Model, type ParsedSchema } from '../src/index.ts';

/** A schema kept in memory: file name → text. The root is the first file. */
export function virtualSchema(files: Record<string, string>): { root: string; readFile: (p: string) => string } {
  const root = Object.keys(files)[0]!;
  return {
    root,
    readFile: (p) => {
      const text = files[p];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file '${p}'`), { code: 'ENOENT' });
      return text;
    },
  };
}

export function parseVirtual(files: Record<string, string>): ParsedSchema {
  const { root, readFile } = virtualSchema(files);
  return parseSchemaFile(root, { readFile });
}

export function resolveVirtual(files: Record<string, string>): Model {
  return resolveSchema(parseVirtual(files));
}

/** Assert that `fn` throws a QapiError whose message is exactly `message` (position included). */
export function assertQapiError(fn: () => unknown, message: string | RegExp, code?: QapiError['code']): QapiError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof QapiError, `expected a QapiError, got ${caught === undefined ? 'no error' : String(caught)}`);
  if (typeof message === 'string') assert.equal(caught.message, message);
  else assert.match(caught.message, message);
  if (code) assert.equal(caught.code, code);
  return caught;
}
