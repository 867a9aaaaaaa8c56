/**
 * The QMP error catalog: QEMU's error classes (qapi/error.json) and the
 * fixed texts this package produces. Texts are byte-exact copies of what
 * QEMU 7.2 sends, so a reply built from them is indistinguishable from one
 * written by QEMU.
 */

export const QMP_ERROR_CLASSES = [
  'GenericError',
  'CommandNotFound',
  'DeviceNotActive',
  'DeviceNotFound',
  'KVMMissingCap',
] as const;

export type QmpErrorClass = (typeof QMP_ERROR_CLASSES)[number];

export function isQmpErrorClass(value: unknown): value is QmpErrorClass {
  return typeof value === 'string' && (QMP_ERROR_CLASSES as readonly string[]).includes(value);
}

/** Descriptions produced by the framer (json-streamer.c / json-parser.c). */
export const PARSE_ERRORS = Object.freeze({
  tokenSize: 'JSON token size limit exceeded',
  tokenCount: 'JSON token count limit exceeded',
  depth: 'JSON nesting depth limit exceeded',
  expectingValue: 'JSON parse error, expecting value',
  prematureEoi: 'JSON parse error, premature EOI',
  missingColon: 'JSON parse error, missing : in object pair',
  separatorInDict: 'JSON parse error, expected separator in dict',
  separatorInList: 'JSON parse error, expected separator in list',
  keyNotString: 'JSON parse error, key is not a string in object',
  duplicateKey: 'JSON parse error, duplicate key',
  invalidEscape: 'JSON parse error, invalid escape sequence in string',
  invalidUtf8: 'JSON parse error, invalid UTF-8 sequence in string',
});

/** Descriptions produced by the envelope check (qapi/qmp-dispatch.c). */
export const ENVELOPE_ERRORS = Object.freeze({
  notObject: 'QMP input must be a JSON object',
  lacksExecute: "QMP input lacks member 'execute'",
  argumentsNotObject: "QMP input member 'arguments' must be an object",
  mustBeString: (member: string) => `QMP input member '${member}' must be a string`,
  clashes: (member: string, other: string) => `QMP input member '${member}' clashes with '${other}'`,
  unexpected: (member: string) => `QMP input member '${member}' is unexpected`,
});
