/**
 * Decoding of a string token, exactly like QEMU's parse_string()
 * (qobject/json-parser.c): the escapes of RFC 8259 plus \', \uXXXX with
 * surrogate pairs, and modified UTF-8 validated code point by code point.
 */
import { ParseFailure, parseFailure } from './tokens.ts';
import { PARSE_ERRORS } from './errors.ts';
import { decodeAt, decoded, decodeLossy, fromCodeUnits, isValidCodepoint, pushCodepoint } from './utf8.ts';

const INVALID_ESCAPE = new ParseFailure(PARSE_ERRORS.invalidEscape);
const INVALID_UTF8 = new ParseFailure(PARSE_ERRORS.invalidUtf8);

function hexDigit(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10;
  return -1;
}

/** QEMU's cvt4hex(): four hex digits at raw[p], bytes at or past `limit` reading as NUL. */
function cvt4hex(raw: Uint8Array, p: number, limit: number): number {
  let cp = 0;
  for (let k = 0; k < 4; k++) {
    const d = p + k < limit ? hexDigit(raw[p + k]!) : -1;
    if (d < 0) return -1;
    cp = (cp << 4) | d;
  }
  return cp;
}

/**
 * Decodes the string token raw[start..end) (quotes included).
 * Returns the value or a ParseFailure with QEMU's description.
 */
export function decodeString(raw: Buffer, start: number, end: number): string | ParseFailure {
  const last = end - 1; // the closing quote
  let escapes = false;
  let high = false;
  for (let k = start + 1; k < last; k++) {
    const b = raw[k]!;
    if (b === 0x5c) {
      escapes = true;
      break;
    }
    if (b >= 0x80) high = true;
  }
  if (!escapes) {
    if (!high) return raw.toString('latin1', start + 1, last);
    // Valid UTF-8 without C0 80 decodes the same with Node's decoder.
    let p = start + 1;
    while (p < last) {
      if (raw[p]! < 0x80) {
        p++;
        continue;
      }
      const cp = decodeAt(raw, p, end);
      if (cp <= 0) break;
      p = decoded.end;
    }
    if (p >= last) return raw.toString('utf8', start + 1, last);
  }

  const units: number[] = [];
  let p = start + 1;
  while (p < last) {
    const b = raw[p]!;
    if (b !== 0x5c) {
      if (b < 0x80) {
        units.push(b);
        p++;
        continue;
      }
      const cp = decodeAt(raw, p, end);
      if (cp < 0) return INVALID_UTF8;
      pushCodepoint(units, cp);
      p = decoded.end;
      continue;
    }
    const beg = p;
    const esc = raw[p + 1]!;
    p += 2;
    switch (esc) {
      case 0x22: // "
      case 0x27: // '
      case 0x5c: // backslash
      case 0x2f: // /
        units.push(esc);
        break;
      case 0x62: // b
        units.push(0x08);
        break;
      case 0x66: // f
        units.push(0x0c);
        break;
      case 0x6e: // n
        units.push(0x0a);
        break;
      case 0x72: // r
        units.push(0x0d);
        break;
      case 0x74: // t
        units.push(0x09);
        break;
      case 0x75: {
        // u
        let cp = cvt4hex(raw, p, end);
        p += 4;
        if (cp >= 0xd800 && cp <= 0xdbff && p + 1 < end && raw[p] === 0x5c && raw[p + 1] === 0x75) {
          const trailing = cvt4hex(raw, p + 2, end);
          if (trailing >= 0xdc00 && trailing <= 0xdfff) {
            cp = 0x10000 + ((cp & 0x3ff) << 10) + (trailing & 0x3ff);
            p += 6;
          } else {
            cp = -1;
          }
        }
        if (!isValidCodepoint(cp)) {
          // "%.*s": the escape text, cut at the token's terminating NUL
          return parseFailure(`${decodeLossy(raw, beg, Math.min(p, end))} is not a valid Unicode character`);
        }
        pushCodepoint(units, cp);
        break;
      }
      default:
        return INVALID_ESCAPE;
    }
  }
  return fromCodeUnits(units);
}
