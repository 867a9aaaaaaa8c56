/**
 * Source positions and the one error type of the QAPI toolchain.
 *
 * Every diagnostic names `file:line:col` (1-based) and, for files reached through
 * `include`, the chain of include sites, the way a C compiler does.
 */

/** A position in a schema file. */
export interface SourceInfo {
  /** Path of the file as it was reached (the root path joined with include paths). */
  readonly file: string;
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly col: number;
  /** Where this file was included from; undefined for the root file. */
  readonly includedFrom?: SourceInfo;
}

export function formatInfo(info: SourceInfo): string {
  return `${info.file}:${info.line}:${info.col}`;
}

/** Error codes, stable for callers and tests. */
export type QapiErrorCode =
  /** Lexical or syntax error in the JSON dialect. */
  | 'QAPI_SYNTAX'
  /** Malformed doc comment. */
  | 'QAPI_DOC'
  /** A well-formed expression that breaks a rule of the schema language. */
  | 'QAPI_SEMANTIC'
  /** An include that cannot be read or that loops. */
  | 'QAPI_INCLUDE';

/** Any error found in a schema: carries the position and a message without it. */
export class QapiError extends Error {
  override readonly name = 'QapiError';

  constructor(
    readonly code: QapiErrorCode,
    readonly info: SourceInfo,
    /** The message without the position prefix. */
    readonly reason: string,
  ) {
    super(renderMessage(info, reason));
  }
}

function renderMessage(info: SourceInfo, reason: string): string {
  const chain: string[] = [];
  for (let at = info.includedFrom; at; at = at.includedFrom) {
    chain.push(`In file included from ${formatInfo(at)}:`);
  }
  chain.reverse();
  return [...chain, `${formatInfo(info)}: ${reason}`].join('\n');
}
