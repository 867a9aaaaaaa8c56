/**
 * The parsed-JSON tree. Every node carries the byte range it was parsed from
 * (relative to the message's raw Buffer), so callers can splice original bytes.
 */

export type JsonNode =
  | { kind: 'object'; start: number; end: number; members: { key: string; value: JsonNode }[] }
  | { kind: 'array'; start: number; end: number; items: JsonNode[] }
  | { kind: 'string'; start: number; end: number; value: string }
  /** An integer token that fits int64 or uint64. */
  | { kind: 'int'; start: number; end: number; value: bigint }
  /** Any other number; also inf/-inf/nan when parsing QEMU output. */
  | { kind: 'double'; start: number; end: number; value: number }
  | { kind: 'bool'; start: number; end: number; value: boolean }
  | { kind: 'null'; start: number; end: number };

export type JsonNodeKind = JsonNode['kind'];

/** Plain JS view of a JSON value; integers beyond 2^53 stay bigint. */
export type JsonPlain = null | boolean | number | bigint | string | JsonPlain[] | { [k: string]: JsonPlain };

const NODE_KINDS: ReadonlySet<string> = new Set(['object', 'array', 'string', 'int', 'double', 'bool', 'null']);

/** True if `value` has the shape of a JsonNode (a `kind` tag plus numeric `start`/`end`). */
export function isJsonNode(value: unknown): value is JsonNode {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const v = value as { kind?: unknown; start?: unknown; end?: unknown };
  return typeof v.kind === 'string' && NODE_KINDS.has(v.kind) && typeof v.start === 'number' && typeof v.end === 'number';
}

/** Member value by key (the last one if a hand-built node repeats a key). */
export function getMember(node: JsonNode, key: string): JsonNode | undefined {
  if (node.kind !== 'object') return undefined;
  let found: JsonNode | undefined;
  for (const m of node.members) if (m.key === key) found = m.value;
  return found;
}

/**
 * Converts a node to plain JS: objects to plain objects, arrays to arrays,
 * ints to number when safe and bigint otherwise, doubles to number.
 */
export function toPlain(node: JsonNode): JsonPlain {
  switch (node.kind) {
    case 'object': {
      const out: { [k: string]: JsonPlain } = {};
      for (const { key, value } of node.members) {
        if (key === '__proto__') {
          Object.defineProperty(out, key, { value: toPlain(value), enumerable: true, writable: true, configurable: true });
        } else {
          out[key] = toPlain(value);
        }
      }
      return out;
    }
    case 'array':
      return node.items.map(toPlain);
    default:
      return scalarValue(node);
  }
}

/** The value of a scalar node: ints as number when safe and bigint otherwise. */
export function scalarValue(node: Exclude<JsonNode, { kind: 'object' | 'array' }>): JsonPlain {
  switch (node.kind) {
    case 'int': {
      const n = Number(node.value);
      return Number.isSafeInteger(n) ? n : node.value;
    }
    case 'null':
      return null;
    default:
      return node.value;
  }
}
