/**
 * Token types shared by the framer (lexer + streamer) and the parser.
 * Tokens are kept as (type, start, end) triples in an Int32Array, with
 * offsets relative to the message's first byte.
 */
export const T_LCURLY = 1;
export const T_RCURLY = 2;
export const T_LSQUARE = 3;
export const T_RSQUARE = 4;
export const T_COLON = 5;
export const T_COMMA = 6;
export const T_INTEGER = 7;
export const T_FLOAT = 8;
export const T_KEYWORD = 9;
export const T_STRING = 10;

/** A parse failure carrying QEMU's exact error description. */
export class ParseFailure {
  constructor(readonly desc: string) {}
}

/**
 * QEMU's parse_error() formats into a 1024-byte buffer, so the text after
 * "JSON parse error, " is cut to 1023 bytes (only reachable with absurdly
 * long keywords).
 */
export function parseFailure(message: string): ParseFailure {
  if (message.length > 1023) {
    const bytes = Buffer.from(message, 'utf8').subarray(0, 1023);
    message = bytes.toString('utf8');
  }
  return new ParseFailure(`JSON parse error, ${message}`);
}
