/**
 * File-level parser: reads a schema file and its includes into a flat list of top-level
 * expressions, each paired with the documentation comment that precedes it
 * (QEMU scripts/qapi/parser.py, `QAPISchemaParser`).
 *
 * - `{'include': 'x.json'}` is resolved relative to the including file, is idempotent
 *   (a file already included is skipped), and an include loop is refused;
 * - `{'pragma': {...}}` updates the pragma state shared by the whole schema;
 * - a `##` block is a documentation comment (see doc.ts); a symbol doc must be followed
 *   immediately by its definition.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseDoc, type QapiDoc, type DocLine } from './doc.ts';
import type { QArray, QEntry, QObject, QValue } from './json.ts';
import { kindName } from './json.ts';
import { Lexer, type Token } from './lexer.ts';
import { QapiError, type SourceInfo } from './source.ts';

/** Pragma state (QMP-NOTES §9). */
export interface Pragma {
  docRequired: boolean;
  commandNameExceptions: string[];
  commandReturnsExceptions: string[];
  documentationExceptions: string[];
  memberNameExceptions: string[];
}

/** A top-level definition expression with its doc comment. */
export interface TopExpr {
  readonly expr: QObject;
  readonly doc?: QapiDoc;
}

/** An `include` directive as it was met. */
export interface IncludeRecord {
  /** The include string as written. */
  readonly include: string;
  /** The file path it resolved to. */
  readonly file: string;
  readonly info: SourceInfo;
  /** False when the file had been included already (idempotent include). */
  readonly loaded: boolean;
}

export interface ParsedSchema {
  /** Definitions in source order (includes expanded in place). */
  readonly exprs: TopExpr[];
  /** Every doc comment in source order, free-form ones included. */
  readonly docs: QapiDoc[];
  /** Free-form doc comments (section headings and prose), each with the index in `exprs` of the definition that follows it. */
  readonly freeDocs: { readonly doc: QapiDoc; readonly beforeExpr: number }[];
  readonly includes: IncludeRecord[];
  readonly pragma: Pragma;
  /** Files read, in the order first read. */
  readonly files: string[];
}

export interface ParseOptions {
  /**
   * Follow `include` directives (default true). When false, includes are only recorded;
   * useful to parse a single file whose includes are not at hand.
   */
  followIncludes?: boolean;
  /** Read a file; defaults to `fs.readFileSync(path, 'utf8')`. Tests pass in-memory files. */
  readFile?: (path: string) => string;
}

const PRAGMA_LISTS = {
  'command-name-exceptions': 'commandNameExceptions',
  'command-returns-exceptions': 'commandReturnsExceptions',
  'documentation-exceptions': 'documentationExceptions',
  'member-name-exceptions': 'memberNameExceptions',
} as const;

/** Parse a schema file and everything it includes. Throws {@link QapiError}. */
export function parseSchemaFile(path: string, options: ParseOptions = {}): ParsedSchema {
  const state: ParserState = {
    out: {
      exprs: [],
      docs: [],
      freeDocs: [],
      includes: [],
      files: [],
      pragma: {
        docRequired: false,
        commandNameExceptions: [],
        commandReturnsExceptions: [],
        documentationExceptions: [],
        memberNameExceptions: [],
      },
    },
    included: new Set(),
    followIncludes: options.followIncludes ?? true,
    readFile: options.readFile ?? ((p) => readFileSync(p, 'utf8')),
  };
  state.included.add(resolve(path));
  let src: string;
  try {
    src = state.readFile(path);
  } catch (err) {
    throw new QapiError('QAPI_INCLUDE', { file: path, line: 1, col: 1 }, `can't read schema file: ${errText(err)}`);
  }
  parseFile(state, path, src, undefined);
  return state.out;
}

/** Parse schema text that is not on disk (its includes are read through `options.readFile`). */
export function parseSchemaText(file: string, src: string, options: ParseOptions = {}): ParsedSchema {
  return parseSchemaFile(file, {
    ...options,
    readFile: (p) => (p === file ? src : (options.readFile ?? ((q) => readFileSync(q, 'utf8')))(p)),
  });
}

interface ParserState {
  out: { exprs: TopExpr[]; docs: QapiDoc[]; freeDocs: { doc: QapiDoc; beforeExpr: number }[]; includes: IncludeRecord[]; files: string[]; pragma: Pragma };
  included: Set<string>;
  followIncludes: boolean;
  readFile: (path: string) => string;
}

function parseFile(state: ParserState, file: string, src: string, includedFrom: SourceInfo | undefined): void {
  state.out.files.push(file);
  const p = new FileParser(new Lexer(src, file, includedFrom));
  let curDoc: QapiDoc | undefined;
  while (p.tok.kind !== 'eof') {
    if (p.tok.kind === '#') {
      rejectExprDoc(curDoc);
      curDoc = p.getDoc();
      state.out.docs.push(curDoc);
      if (curDoc.symbol === undefined) state.out.freeDocs.push({ doc: curDoc, beforeExpr: state.out.exprs.length });
      continue;
    }
    const info = p.tok.info;
    const value = p.getValue();
    if (value.kind !== 'object') {
      throw new QapiError('QAPI_SYNTAX', info, `top-level expression must be an object, not ${kindName(value)}`);
    }
    const expr = value;
    if (expr.entries.has('include')) {
      rejectExprDoc(curDoc);
      doInclude(state, file, expr);
    } else if (expr.entries.has('pragma')) {
      rejectExprDoc(curDoc);
      doPragma(state.out.pragma, expr);
    } else {
      if (curDoc && curDoc.symbol === undefined) {
        throw new QapiError('QAPI_DOC', curDoc.info, 'definition documentation required (this block has no @Name: line)');
      }
      state.out.exprs.push(curDoc ? { expr, doc: curDoc } : { expr });
    }
    curDoc = undefined;
  }
  rejectExprDoc(curDoc);
}

function rejectExprDoc(doc: QapiDoc | undefined): void {
  if (doc?.symbol !== undefined) {
    throw new QapiError('QAPI_DOC', doc.info, `documentation for '${doc.symbol}' is not followed by the definition`);
  }
}

function doInclude(state: ParserState, file: string, expr: QObject): void {
  const entry = expr.entries.get('include')!;
  if (expr.entries.size !== 1) {
    const extra = [...expr.entries.values()].find((e) => e.key !== 'include')!;
    throw new QapiError('QAPI_SEMANTIC', extra.keyInfo, `invalid 'include' directive: unexpected key '${extra.key}'`);
  }
  if (entry.value.kind !== 'string') {
    throw new QapiError('QAPI_SEMANTIC', entry.value.info, `value of 'include' must be a string, not ${kindName(entry.value)}`);
  }
  const include = entry.value.value;
  const inclFile = join(dirname(file), include);
  const abs = resolve(inclFile);
  const info = expr.info;
  for (let at: SourceInfo | undefined = info; at; at = at.includedFrom) {
    if (resolve(at.file) === abs) {
      throw new QapiError('QAPI_INCLUDE', entry.value.info, `inclusion loop for ${include}`);
    }
  }
  const already = state.included.has(abs);
  state.out.includes.push({ include, file: inclFile, info, loaded: state.followIncludes && !already });
  if (!state.followIncludes || already) return;
  state.included.add(abs);
  let src: string;
  try {
    src = state.readFile(inclFile);
  } catch (err) {
    throw new QapiError('QAPI_INCLUDE', entry.value.info, `can't read include file '${inclFile}': ${errText(err)}`);
  }
  parseFile(state, inclFile, src, info);
}

function doPragma(pragma: Pragma, expr: QObject): void {
  const entry = expr.entries.get('pragma')!;
  if (expr.entries.size !== 1) {
    const extra = [...expr.entries.values()].find((e) => e.key !== 'pragma')!;
    throw new QapiError('QAPI_SEMANTIC', extra.keyInfo, `invalid 'pragma' directive: unexpected key '${extra.key}'`);
  }
  const value = entry.value;
  if (value.kind !== 'object') {
    throw new QapiError('QAPI_SEMANTIC', value.info, `value of 'pragma' must be an object, not ${kindName(value)}`);
  }
  for (const { key, keyInfo, value: v } of value.entries.values()) {
    if (key === 'doc-required') {
      if (v.kind !== 'bool') {
        throw new QapiError('QAPI_SEMANTIC', v.info, "pragma 'doc-required' must be boolean");
      }
      pragma.docRequired = v.value;
    } else if (Object.hasOwn(PRAGMA_LISTS, key)) {
      const field = PRAGMA_LISTS[key as keyof typeof PRAGMA_LISTS];
      if (v.kind !== 'array' || v.items.some((i) => i.kind !== 'string')) {
        throw new QapiError('QAPI_SEMANTIC', v.info, `pragma '${key}' must be a list of strings`);
      }
      pragma[field] = (v as QArray).items.map((i) => (i.kind === 'string' ? i.value : ''));
    } else {
      throw new QapiError('QAPI_SEMANTIC', keyInfo, `unknown pragma '${key}'`);
    }
  }
}

class FileParser {
  tok: Token;

  constructor(private readonly lexer: Lexer) {
    this.tok = lexer.next();
  }

  accept(keepComments = false): void {
    this.tok = this.lexer.next(keepComments);
  }

  /** Whether the current token is of `kind` (a call, so that checks after accept() are not narrowed away). */
  private at(kind: Token['kind']): boolean {
    return this.tok.kind === kind;
  }

  getValue(): QValue {
    const t = this.tok;
    switch (t.kind) {
      case '{': return this.getObject();
      case '[': return this.getArray();
      case 'string':
        this.accept();
        return { kind: 'string', value: t.text, info: t.info };
      case 'bool':
        this.accept();
        return { kind: 'bool', value: t.bool, info: t.info };
      default:
        throw this.syntax(`expected '{', '[', string, or boolean, got ${describe(t)}`);
    }
  }

  private getObject(): QObject {
    const info = this.tok.info;
    const entries = new Map<string, QEntry>();
    this.accept();
    if (this.at('}')) {
      this.accept();
      return { kind: 'object', entries, info };
    }
    for (;;) {
      const keyTok = this.tok;
      if (keyTok.kind !== 'string') throw this.syntax(`expected string key, got ${describe(keyTok)}`);
      if (entries.has(keyTok.text)) {
        throw new QapiError('QAPI_SYNTAX', keyTok.info, `duplicate key '${keyTok.text}'`);
      }
      this.accept();
      if (!this.at(':')) throw this.syntax(`expected ':', got ${describe(this.tok)}`);
      this.accept();
      const value = this.getValue();
      entries.set(keyTok.text, { key: keyTok.text, keyInfo: keyTok.info, value });
      if (this.at('}')) {
        this.accept();
        return { kind: 'object', entries, info };
      }
      if (!this.at(',')) throw this.syntax(`expected ',' or '}', got ${describe(this.tok)}`);
      this.accept();
    }
  }

  private getArray(): QArray {
    const info = this.tok.info;
    const items: QValue[] = [];
    this.accept();
    if (this.at(']')) {
      this.accept();
      return { kind: 'array', items, info };
    }
    for (;;) {
      if (!['{', '[', 'string', 'bool'].includes(this.tok.kind)) {
        throw this.syntax(`expected value, got ${describe(this.tok)}`);
      }
      items.push(this.getValue());
      if (this.at(']')) {
        this.accept();
        return { kind: 'array', items, info };
      }
      if (!this.at(',')) throw this.syntax(`expected ',' or ']', got ${describe(this.tok)}`);
      this.accept();
    }
  }

  /** Collect the lines of a `##` block and parse them. The current token is the opening `##`. */
  getDoc(): QapiDoc {
    const open = this.tok;
    if (open.text !== '##') {
      throw new QapiError('QAPI_DOC', open.info, "junk after '##' at start of documentation comment");
    }
    const lines: DocLine[] = [];
    for (;;) {
      this.accept(true);
      const t = this.tok;
      if (t.kind !== '#') {
        throw new QapiError('QAPI_DOC', t.info, "documentation comment must end with '##'");
      }
      if (t.text.startsWith('##')) {
        if (t.text !== '##') {
          throw new QapiError('QAPI_DOC', t.info, "junk after '##' at end of documentation comment");
        }
        break;
      }
      if (t.text === '#') {
        lines.push({ text: '', info: t.info });
      } else if (t.text[1] !== ' ') {
        throw new QapiError('QAPI_DOC', { ...t.info, col: t.info.col + 1 }, 'missing space after #');
      } else {
        lines.push({ text: t.text.slice(2).trimEnd(), info: { ...t.info, col: t.info.col + 2 } });
      }
    }
    this.accept();
    return parseDoc(open.info, lines);
  }

  private syntax(message: string): QapiError {
    return new QapiError('QAPI_SYNTAX', this.tok.info, message);
  }
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'eof': return 'end of file';
    case 'string': return `string '${t.text}'`;
    case 'bool': return String(t.bool);
    case '#': return 'a comment';
    default: return `'${t.kind}'`;
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
