/**
 * Values of the QAPI JSON dialect, each carrying its source position so that later
 * checks can point at the exact key or value at fault.
 */
import type { SourceInfo } from './source.ts';

export type QValue = QString | QBool | QArray | QObject;

export interface QString {
  readonly kind: 'string';
  readonly value: string;
  readonly info: SourceInfo;
}

export interface QBool {
  readonly kind: 'bool';
  readonly value: boolean;
  readonly info: SourceInfo;
}

export interface QArray {
  readonly kind: 'array';
  readonly items: readonly QValue[];
  readonly info: SourceInfo;
}

export interface QEntry {
  readonly key: string;
  readonly keyInfo: SourceInfo;
  readonly value: QValue;
}

export interface QObject {
  readonly kind: 'object';
  /** Entries in source order; keys are unique (the parser refuses duplicates). */
  readonly entries: ReadonlyMap<string, QEntry>;
  readonly info: SourceInfo;
}

/** Human name of a value's kind, for messages. */
export function kindName(v: QValue): string {
  switch (v.kind) {
    case 'string': return 'a string';
    case 'bool': return 'a boolean';
    case 'array': return 'an array';
    case 'object': return 'an object';
  }
}
