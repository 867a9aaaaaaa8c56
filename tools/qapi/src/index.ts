/**
 * @qmpmux/qapi: a parser for the QAPI schema language, a resolver producing a typed model,
 * and a TypeScript type generator (issue 8).
 */
export * from './source.ts';
export type { QValue, QString, QBool, QArray, QObject, QEntry } from './json.ts';
export { Lexer, type Token, type TokenKind } from './lexer.ts';
export * from './doc.ts';
export * from './parser.ts';
export * from './expr.ts';
export * from './schema.ts';
export * from './gen-ts.ts';
export * from './generate.ts';
export * from './paths.ts';
export * from './introspect.ts';
