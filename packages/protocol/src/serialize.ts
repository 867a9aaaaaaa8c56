/**
 * QEMU-exact compact JSON output (qobject/json-writer.c): ", " and ": "
 * separators, members in QDict hash order, ASCII-only strings with
 * uppercase \uXXXX escapes, integers exact and doubles as "%.17g".
 */
import { isJsonNode, type JsonNode, type JsonPlain } from './node.ts';
import { formatDouble } from './format-double.ts';
import { qdictOrder } from './qdict-order.ts';

const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const HEX = '0123456789ABCDEF';

function hex4(u: number): string {
  return '\\u' + HEX[(u >> 12) & 15] + HEX[(u >> 8) & 15] + HEX[(u >> 4) & 15] + HEX[u & 15];
}

function isNoncharacter(cp: number): boolean {
  return (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe;
}

/**
 * A JSON string literal as QEMU writes it. Code points QEMU could not hold
 * (lone surrogates, noncharacters) come out as \uFFFD, as QEMU prints
 * invalid UTF-8.
 */
export function quoteString(s: string): string {
  if (PLAIN_ASCII.test(s)) return '"' + s + '"';
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f) {
      if (c === 0x22) out += '\\"';
      else if (c === 0x5c) out += '\\\\';
      else out += s[i];
      continue;
    }
    switch (c) {
      case 0x08:
        out += '\\b';
        continue;
      case 0x0c:
        out += '\\f';
        continue;
      case 0x0a:
        out += '\\n';
        continue;
      case 0x0d:
        out += '\\r';
        continue;
      case 0x09:
        out += '\\t';
        continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        out += isNoncharacter(cp) ? hex4(0xfffd) : hex4(c) + hex4(d);
        continue;
      }
    }
    if ((c >= 0xd800 && c <= 0xdfff) || isNoncharacter(c)) out += hex4(0xfffd);
    else out += hex4(c);
  }
  return out + '"';
}

/** Member keys in QEMU print order, with the value QEMU would keep for each (the last one). */
function orderedMembers<V>(entries: readonly (readonly [string, V])[]): [string, V][] {
  if (entries.length === 1) return [[entries[0]![0], entries[0]![1]]];
  const values = new Map<string, V>();
  for (const [k, v] of entries) values.set(k, v);
  return qdictOrder([...values.keys()]).map((k) => [k, values.get(k)!]);
}

/** Serializes a JsonNode tree. */
export function serializeNode(node: JsonNode): string {
  switch (node.kind) {
    case 'object': {
      if (node.members.length === 0) return '{}';
      const parts = orderedMembers(node.members.map((m) => [m.key, m.value] as const)).map(
        ([k, v]) => quoteString(k) + ': ' + serializeNode(v),
      );
      return '{' + parts.join(', ') + '}';
    }
    case 'array':
      return node.items.length === 0 ? '[]' : '[' + node.items.map(serializeNode).join(', ') + ']';
    case 'string':
      return quoteString(node.value);
    case 'int':
      return node.value.toString();
    case 'double':
      return formatDouble(node.value);
    case 'bool':
      return node.value ? 'true' : 'false';
    case 'null':
      return 'null';
  }
}

/**
 * Serializes plain JS. A safe integer prints as an integer, any other number
 * via "%.17g", bigint exactly; object keys in QDict order of their
 * Object.keys insertion order; undefined members are skipped.
 */
export function serializePlain(value: JsonPlain): string {
  switch (typeof value) {
    case 'string':
      return quoteString(value);
    case 'number':
      return Number.isSafeInteger(value) ? String(value) : formatDouble(value);
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return value.length === 0 ? '[]' : '[' + value.map(serializePlain).join(', ') + ']';
      const entries = Object.entries(value).filter(([, v]) => v !== undefined);
      if (entries.length === 0) return '{}';
      return '{' + orderedMembers(entries).map(([k, v]) => quoteString(k) + ': ' + serializePlain(v)).join(', ') + '}';
    }
    default:
      throw new TypeError(`cannot serialize ${typeof value} as JSON`);
  }
}

/**
 * QEMU-exact serialization of a JsonNode tree or of plain JS. A top-level
 * value with a JsonNode shape (kind + numeric start/end) is taken as a node.
 * `raw` is accepted for API symmetry and not needed.
 */
export function serializeQemu(value: JsonNode | JsonPlain, raw?: Buffer): string {
  void raw;
  return isJsonNode(value) ? serializeNode(value) : serializePlain(value as JsonPlain);
}

