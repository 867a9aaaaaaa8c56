/**
 * Turns the tokens of one message into a JsonNode, reproducing QEMU's
 * recursive-descent parser (qobject/json-parser.c) including which error
 * wins. It runs iteratively, so a configured nesting limit far above QEMU's
 * cannot overflow the JS stack.
 */
import type { JsonNode } from './node.ts';
import { PARSE_ERRORS } from './errors.ts';
import { decodeString } from './strings.ts';
import {
  ParseFailure,
  parseFailure,
  T_COLON,
  T_COMMA,
  T_FLOAT,
  T_INTEGER,
  T_KEYWORD,
  T_LCURLY,
  T_LSQUARE,
  T_RCURLY,
  T_RSQUARE,
  T_STRING,
} from './tokens.ts';

type ObjectNode = Extract<JsonNode, { kind: 'object' }>;
type ArrayNode = Extract<JsonNode, { kind: 'array' }>;

interface Frame {
  node: ObjectNode | ArrayNode;
  /** Objects: true while the next value parsed is a key. */
  wantKey: boolean;
  key: string;
  /** Objects with many members: their keys, for duplicate detection. */
  keys: Set<string> | null;
}

const EXPECTING_VALUE = new ParseFailure(PARSE_ERRORS.expectingValue);
const PREMATURE_EOI = new ParseFailure(PARSE_ERRORS.prematureEoi);
const MISSING_COLON = new ParseFailure(PARSE_ERRORS.missingColon);
const SEPARATOR_IN_DICT = new ParseFailure(PARSE_ERRORS.separatorInDict);
const SEPARATOR_IN_LIST = new ParseFailure(PARSE_ERRORS.separatorInList);
const KEY_NOT_STRING = new ParseFailure(PARSE_ERRORS.keyNotString);
const DUPLICATE_KEY = new ParseFailure(PARSE_ERRORS.duplicateKey);

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

/** An integer token: int64, else uint64 (if unsigned), else a double (strtod). */
function integerNode(raw: Buffer, start: number, end: number): JsonNode {
  const text = raw.toString('latin1', start, end);
  if (end - start <= 18) return { kind: 'int', start, end, value: BigInt(text) };
  const value = BigInt(text);
  if (value >= INT64_MIN && value <= UINT64_MAX) return { kind: 'int', start, end, value };
  return { kind: 'double', start, end, value: Number(text) };
}

function keywordNode(raw: Buffer, start: number, end: number, allowNonFinite: boolean): JsonNode | ParseFailure {
  const text = raw.toString('latin1', start, end);
  switch (text) {
    case 'true':
      return { kind: 'bool', start, end, value: true };
    case 'false':
      return { kind: 'bool', start, end, value: false };
    case 'null':
      return { kind: 'null', start, end };
  }
  if (allowNonFinite) {
    switch (text) {
      case 'inf':
        return { kind: 'double', start, end, value: Infinity };
      case '-inf':
        return { kind: 'double', start, end, value: -Infinity };
      case 'nan':
      case '-nan':
        return { kind: 'double', start, end, value: NaN };
    }
  }
  return parseFailure(`invalid keyword '${text}'`);
}

function hasMember(frame: Frame, key: string): boolean {
  const members = (frame.node as ObjectNode).members;
  if (frame.keys) return frame.keys.has(key);
  if (members.length < 16) {
    for (let i = 0; i < members.length; i++) if (members[i]!.key === key) return true;
    return false;
  }
  frame.keys = new Set(members.map((m) => m.key));
  return frame.keys.has(key);
}

/**
 * Parses tokens[0..count) of a message whose bytes are `raw`.
 * Returns the root node, or a ParseFailure with QEMU's description.
 */
export function parseTokens(raw: Buffer, toks: Int32Array, count: number, allowNonFinite: boolean): JsonNode | ParseFailure {
  const stack: Frame[] = [];
  let pos = 0;
  let value: JsonNode;
  for (;;) {
    // parse_value()
    if (pos >= count) return PREMATURE_EOI;
    const t = toks[pos * 3]!;
    const s = toks[pos * 3 + 1]!;
    const e = toks[pos * 3 + 2]!;
    pos++;
    switch (t) {
      case T_LCURLY:
      case T_LSQUARE: {
        const node: ObjectNode | ArrayNode =
          t === T_LCURLY ? { kind: 'object', start: s, end: -1, members: [] } : { kind: 'array', start: s, end: -1, items: [] };
        if (pos >= count) return PREMATURE_EOI;
        if (toks[pos * 3] === (t === T_LCURLY ? T_RCURLY : T_RSQUARE)) {
          node.end = toks[pos * 3 + 2]!;
          pos++;
          value = node;
          break;
        }
        stack.push({ node, wantKey: true, key: '', keys: null });
        continue;
      }
      case T_STRING: {
        const str = decodeString(raw, s, e);
        if (str instanceof ParseFailure) return str;
        value = { kind: 'string', start: s, end: e, value: str };
        break;
      }
      case T_INTEGER:
        value = integerNode(raw, s, e);
        break;
      case T_FLOAT:
        value = { kind: 'double', start: s, end: e, value: Number(raw.toString('latin1', s, e)) };
        break;
      case T_KEYWORD: {
        const kw = keywordNode(raw, s, e, allowNonFinite);
        if (kw instanceof ParseFailure) return kw;
        value = kw;
        break;
      }
      default:
        return EXPECTING_VALUE;
    }

    // A value is complete: hand it to the enclosing containers.
    for (;;) {
      const frame = stack[stack.length - 1];
      if (!frame) {
        return value;
      }
      if (frame.node.kind === 'object') {
        if (frame.wantKey) {
          if (value.kind !== 'string') return KEY_NOT_STRING;
          frame.key = value.value;
          if (pos >= count) return PREMATURE_EOI;
          if (toks[pos * 3] !== T_COLON) return MISSING_COLON;
          pos++;
          frame.wantKey = false;
          break; // parse the member's value
        }
        if (hasMember(frame, frame.key)) return DUPLICATE_KEY;
        frame.node.members.push({ key: frame.key, value });
        frame.keys?.add(frame.key);
        if (pos >= count) return PREMATURE_EOI;
        const sep = toks[pos * 3];
        if (sep === T_RCURLY) {
          frame.node.end = toks[pos * 3 + 2]!;
          pos++;
          stack.pop();
          value = frame.node;
          continue;
        }
        if (sep !== T_COMMA) return SEPARATOR_IN_DICT;
        pos++;
        frame.wantKey = true;
        break; // parse the next key
      }
      frame.node.items.push(value);
      if (pos >= count) return PREMATURE_EOI;
      const sep = toks[pos * 3];
      if (sep === T_RSQUARE) {
        frame.node.end = toks[pos * 3 + 2]!;
        pos++;
        stack.pop();
        value = frame.node;
        continue;
      }
      if (sep !== T_COMMA) return SEPARATOR_IN_LIST;
      pos++;
      break; // parse the next item
    }
  }
}
