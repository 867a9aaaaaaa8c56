/**
 * Messages read from QEMU, classified without re-serializing them.
 *
 * QEMU's compact output is one object per line, with keys in QDict hash order. That order is fixed, so
 * replies have exactly two shapes around the id qmpmux put upstream (always a plain integer):
 *   {"return": …, "id": N}        and        {"id": N, "error": …}
 * The fast path recognises those by their ends and splices the client's id in; anything else (a pretty
 * monitor, an unexpected shape) goes through the structural parser, and pretty input is emitted compact.
 */
import { parseMessage, serializeQemu, toPlain, type JsonNode, type JsonPlain } from '@qmpmux/protocol';

const CRLF = Buffer.from('\r\n');
const P_RETURN = Buffer.from('{"return": ');
const P_ID = Buffer.from('{"id": ');
const P_TIMESTAMP = Buffer.from('{"timestamp": ');
const S_ID = Buffer.from(', "id": ');
const OPEN = Buffer.from('{');
const EMPTY = Buffer.alloc(0);

export type UpstreamMessage =
  | { kind: 'reply'; id: number; reply: UpstreamReply }
  | { kind: 'event'; event: RawEvent }
  | { kind: 'greeting'; raw: Buffer; value: JsonPlain }
  | { kind: 'other'; raw: Buffer; id?: JsonPlain };

/** An event as QEMU sent it: `raw` ends with \r\n and is what every client receives. */
export interface RawEvent {
  raw: Buffer;
  name: string;
}

function startsWith(b: Buffer, p: Buffer, at = 0): boolean {
  if (b.length < at + p.length) return false;
  for (let i = 0; i < p.length; i++) if (b[at + i] !== p[i]) return false;
  return true;
}

const SEP = Buffer.from(', ');
const ID_KEY = Buffer.from('"id": ');
const CLOSE_CRLF = Buffer.from('}\r\n');

/** A reply to one of qmpmux's upstream ids. */
export class UpstreamReply {
  private parsed: { return: JsonPlain } | { error: { class: string; desc: string } } | undefined;
  constructor(
    /** The reply without its line end, as QEMU wrote it (with qmpmux's upstream id). */
    readonly line: Buffer,
    readonly isError: boolean,
    /** The members before and after the id member (no braces, no separators at the ends). */
    private readonly pre: Buffer,
    private readonly post: Buffer,
  ) {}

  /** The reply as the client must see it: its own id in place of qmpmux's, or no id if it sent none. */
  forClient(idText: string | undefined): Buffer {
    const parts: Buffer[] = [OPEN];
    let first = true;
    const add = (b: Buffer) => {
      if (!first) parts.push(SEP);
      parts.push(b);
      first = false;
    };
    if (this.pre.length) add(this.pre);
    if (idText !== undefined) {
      add(ID_KEY);
      parts.push(Buffer.from(idText, 'latin1'));
    }
    if (this.post.length) add(this.post);
    parts.push(CLOSE_CRLF);
    return Buffer.concat(parts);
  }

  /**
   * The same reply with `entries` (serialized, comma-separated) appended to its array return value,
   * QEMU's own bytes kept as they are; undefined when the return value is not an array.
   */
  withArrayAppended(entries: string): UpstreamReply | undefined {
    const pre = this.pre;
    if (this.isError || pre[pre.length - 1] !== 0x5d) return undefined;
    const empty = pre[pre.length - 2] === 0x5b;
    const grown = Buffer.concat([pre.subarray(0, pre.length - 1), Buffer.from(`${empty ? '' : ', '}${entries}]`, 'latin1')]);
    const line = this.post.length ? Buffer.concat([OPEN, grown, SEP, this.post, Buffer.from('}')]) : Buffer.concat([OPEN, grown, Buffer.from('}')]);
    return new UpstreamReply(line, false, grown, this.post);
  }

  /** The reply's content, parsed on demand (plugins). */
  result(): { return: JsonPlain } | { error: { class: string; desc: string } } {
    if (!this.parsed) {
      const root = parseMessage(this.line);
      const v = root ? (toPlain(root) as Record<string, JsonPlain>) : {};
      this.parsed = this.isError ? { error: v.error as { class: string; desc: string } } : { return: v.return as JsonPlain };
    }
    return this.parsed;
  }
}

/** Parse the decimal integer at `at`, ending at `end` (exclusive); -1 if it is not one. */
function readInt(b: Buffer, at: number, end: number): number {
  if (at >= end || end - at > 15) return -1;
  let n = 0;
  for (let i = at; i < end; i++) {
    const c = b[i]! - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/** Classify one compact line (without \r\n). Falls back to the structural path when unsure. */
export function classifyLine(line: Buffer): UpstreamMessage {
  const n = line.length;
  if (startsWith(line, P_TIMESTAMP)) {
    const name = eventName(line);
    if (name !== undefined) return { kind: 'event', event: { raw: Buffer.concat([line, CRLF]), name } };
  } else if (startsWith(line, P_ID)) {
    const comma = line.indexOf(0x2c, P_ID.length);
    const id = comma > 0 ? readInt(line, P_ID.length, comma) : -1;
    if (id >= 0 && line[comma + 1] === 0x20 && startsWith(line, Buffer.from('"error": '), comma + 2)) {
      return { kind: 'reply', id, reply: new UpstreamReply(line, true, EMPTY, line.subarray(comma + 2, n - 1)) };
    }
  } else if (startsWith(line, P_RETURN) && line[n - 1] === 0x7d) {
    let i = n - 2;
    while (i > 0 && line[i]! >= 0x30 && line[i]! <= 0x39) i--;
    const idStart = i + 1;
    if (idStart < n - 1 && i - S_ID.length + 1 > 0 && startsWith(line, S_ID, i - S_ID.length + 1)) {
      const id = readInt(line, idStart, n - 1);
      if (id >= 0) return { kind: 'reply', id, reply: new UpstreamReply(line, false, line.subarray(1, i - S_ID.length + 1), EMPTY) };
    }
  }
  return classifyStructured(line, true);
}

const EVENT_KEY = Buffer.from('"event": "');
function eventName(line: Buffer): string | undefined {
  // The timestamp object holds only numbers, so the first "event" key after it is the top-level one.
  const at = line.indexOf(EVENT_KEY);
  if (at < 0) return undefined;
  const end = line.indexOf(0x22, at + EVENT_KEY.length);
  return end < 0 ? undefined : line.toString('latin1', at + EVENT_KEY.length, end);
}

function member(root: JsonNode, key: string): JsonNode | undefined {
  return root.kind === 'object' ? root.members.find((m) => m.key === key)?.value : undefined;
}

/**
 * Classify a parsed message. `compact` tells whether `raw` is already in QEMU's compact form (then its
 * member values are reused byte for byte); otherwise values are re-serialized the way QEMU would.
 */
export function classifyStructured(raw: Buffer, compact: boolean, root?: JsonNode): UpstreamMessage {
  root ??= parseMessage(raw);
  if (!root) return { kind: 'other', raw };
  if (root.kind !== 'object') return { kind: 'other', raw };
  const text = (n: JsonNode) => (compact ? raw.toString('latin1', n.start, n.end) : serializeQemu(n));
  const compactLine = (skipId: boolean) =>
    Buffer.from('{' + root.members.filter((m) => !(skipId && m.key === 'id')).map((m) => `${serializeQemu({ kind: 'string', start: 0, end: 0, value: m.key })}: ${text(m.value)}`).join(', ') + '}', 'latin1');
  if (member(root, 'QMP')) return { kind: 'greeting', raw: Buffer.concat([compact ? raw : compactLine(false), CRLF]), value: toPlain(root) };
  const ev = member(root, 'event');
  if (ev && ev.kind === 'string' && member(root, 'timestamp')) return { kind: 'event', event: { raw: Buffer.concat([compact ? raw : compactLine(false), CRLF]), name: ev.value } };
  const idNode = member(root, 'id');
  const isError = !!member(root, 'error');
  if (idNode && idNode.kind === 'int' && (isError || member(root, 'return'))) {
    // Rebuild around the id: the members before it and after it.
    const idx = root.members.findIndex((m) => m.key === 'id');
    const part = (ms: typeof root.members) =>
      Buffer.from(ms.map((m) => `${serializeQemu({ kind: 'string', start: 0, end: 0, value: m.key })}: ${text(m.value)}`).join(', '), 'latin1');
    const reply = new UpstreamReply(compactLine(false), isError, part(root.members.slice(0, idx)), part(root.members.slice(idx + 1)));
    return { kind: 'reply', id: Number(idNode.value), reply };
  }
  return { kind: 'other', raw, id: idNode ? toPlain(idNode) : undefined };
}
