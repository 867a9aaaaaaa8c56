/**
 * QEMU's "modified UTF-8" (util/unicode.c): UTF-8 in which U+0000 may also be
 * written as the overlong pair C0 80, and in which surrogates, the 66
 * noncharacters and overlong forms are invalid.
 */

const MIN_CP = [0x80, 0x800, 0x10000, 0x200000, 0x4000000];

/** QEMU's validity rule for a code point. */
export function isValidCodepoint(cp: number): boolean {
  if (cp < 0 || cp > 0x10ffff) return false;
  if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe) return false;
  return cp < 0xd800 || cp > 0xdfff;
}

/** Index just after the sequence read by the last decodeAt() call (an out-parameter, to avoid allocating). */
export const decoded = { end: 0 };

/**
 * Decodes the sequence at buf[p] like QEMU's mod_utf8_codepoint(s, 6, &end).
 * Bytes at or beyond `limit` read as NUL (QEMU's strings are NUL-terminated).
 * Returns the code point or -1 and leaves the end index in `decoded.end`.
 */
export function decodeAt(buf: Uint8Array, p: number, limit: number): number {
  const b0 = p < limit ? buf[p]! : 0;
  if (b0 === 0) {
    decoded.end = p;
    return -1;
  }
  if (b0 < 0x80) {
    decoded.end = p + 1;
    return b0;
  }
  if (b0 >= 0xfe || (b0 & 0x40) === 0) {
    decoded.end = p + 1;
    return -1;
  }
  const len = b0 >= 0xfc ? 6 : b0 >= 0xf8 ? 5 : b0 >= 0xf0 ? 4 : b0 >= 0xe0 ? 3 : 2;
  let cp = b0 & ((0x80 >> len) - 1);
  let q = p + 1;
  for (let k = 1; k < len; k++) {
    const b = q < limit ? buf[q]! : 0;
    if ((b & 0xc0) !== 0x80) {
      decoded.end = q;
      return -1;
    }
    q++;
    cp = cp * 64 + (b & 0x3f);
  }
  decoded.end = q;
  if (!isValidCodepoint(cp)) return -1;
  if (cp < MIN_CP[len - 2]! && !(cp === 0 && len === 2)) return -1;
  return cp;
}

/** Appends code point `cp` to `out` as UTF-16 code units. */
export function pushCodepoint(out: number[], cp: number): void {
  if (cp > 0xffff) {
    out.push(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
  } else {
    out.push(cp);
  }
}

/** Builds a string from UTF-16 code units without blowing the argument limit. */
export function fromCodeUnits(units: number[]): string {
  let s = '';
  for (let i = 0; i < units.length; i += 8192) {
    s += String.fromCharCode.apply(null, units.slice(i, i + 8192));
  }
  return s;
}

/**
 * Decodes bytes the way QEMU's JSON writer reads a C string: stops at the
 * first NUL byte, and every invalid sequence becomes U+FFFD. Used for error
 * descriptions that quote raw client input.
 */
export function decodeLossy(buf: Uint8Array, start: number, end: number): string {
  let ascii = true;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b === 0) {
      end = i;
      break;
    }
    if (b >= 0x80) ascii = false;
  }
  if (ascii) return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1');
  const units: number[] = [];
  let p = start;
  while (p < end) {
    const cp = decodeAt(buf, p, end);
    pushCodepoint(units, cp < 0 ? 0xfffd : cp);
    p = decoded.end > p ? decoded.end : p + 1;
  }
  return fromCodeUnits(units);
}

/**
 * Calls `each` for every byte of `s` in modified UTF-8 (U+0000 as C0 80,
 * lone surrogates as U+FFFD) and returns the byte length.
 */
export function forEachModUtf8Byte(s: string, each: (byte: number, index: number) => void): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c !== 0 && c < 0x80) {
      each(c, n++);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        each(0xf0 | (cp >> 18), n++);
        each(0x80 | ((cp >> 12) & 0x3f), n++);
        each(0x80 | ((cp >> 6) & 0x3f), n++);
        each(0x80 | (cp & 0x3f), n++);
        continue;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x800) {
      each(0xc0 | (c >> 6), n++);
      each(0x80 | (c & 0x3f), n++);
    } else {
      each(0xe0 | (c >> 12), n++);
      each(0x80 | ((c >> 6) & 0x3f), n++);
      each(0x80 | (c & 0x3f), n++);
    }
  }
  return n;
}
