/**
 * Canonical JSON: the bytes a record's hash covers, independent of the file format (JSON lines or
 * msgpack), so converting a log keeps every hash valid. A JSON-lines record is its canonical JSON with
 * `"hash"` appended as the last member. Object keys sorted by UTF-16 code units, no
 * whitespace, members whose value is undefined left out, numbers as JSON.stringify writes them.
 */
export function canonicalJson(v: unknown): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? String(v === 0 ? 0 : v) : 'null'; // as JSON.stringify writes it
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(v)) {
        let out = '[';
        for (let i = 0; i < v.length; i++) out += (i ? ',' : '') + (v[i] === undefined ? 'null' : canonicalJson(v[i]));
        return out + ']';
      }
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o).sort();
      let out = '{';
      for (const k of keys) {
        const x = o[k];
        if (x === undefined) continue;
        out += (out.length > 1 ? ',' : '') + quoteKey(k) + ':' + canonicalJson(x);
      }
      return out + '}';
    }
    default:
      throw new TypeError(`audit record holds a ${typeof v}, which has no canonical JSON form`);
  }
}

/** Record member names repeat: quote each once (bounded, so client-chosen names cannot grow it). */
const quoted = new Map<string, string>();
function quoteKey(k: string): string {
  let q = quoted.get(k);
  if (q === undefined) {
    q = JSON.stringify(k);
    if (quoted.size < 4096) quoted.set(k, q);
  }
  return q;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

/**
 * A value made safe to store in a record: bigints become decimal strings, lone surrogates U+FFFD (both
 * would not survive a round trip through msgpack's UTF-8 unchanged), -0 becomes 0, non-finite numbers
 * null. Returns plain objects and arrays only.
 */
export function recordValue(v: unknown): unknown {
  if (v === null || v === undefined) return v;
  switch (typeof v) {
    case 'string':
      return LONE_SURROGATE.test(v) ? v.replace(LONE_SURROGATES, '\ufffd') : v;
    case 'bigint':
      return v.toString();
    case 'number':
      return Number.isFinite(v) ? (Object.is(v, -0) ? 0 : v) : null;
    case 'boolean':
      return v;
    case 'object': {
      if (Array.isArray(v)) return v.map(recordValue);
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (x !== undefined) out[recordValue(k) as string] = recordValue(x);
      return out;
    }
    default:
      return String(v);
  }
}

/** A string made safe to store (see recordValue). */
export function recordString(s: string): string {
  return LONE_SURROGATE.test(s) ? s.replace(LONE_SURROGATES, '\ufffd') : s;
}
