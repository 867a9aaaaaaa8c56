/**
 * The `qmp.msgpack` framing: one MessagePack value per QMP message, in binary frames.
 *
 * - Out: the core writes QEMU-exact JSON bytes; they are parsed with the protocol framer (integers
 *   beyond 2^53 stay bigint, member order is kept by encoding objects as maps in wire order) and packed.
 *   int64/uint64 values go out as MessagePack int64/uint64, never as floats.
 * - In: a binary frame holds one or more whole MessagePack values; each becomes QEMU-exact JSON text
 *   (serializePlain) fed to the same framer a socket client's bytes go through, so the core cannot tell
 *   a msgpack client from a socket client. int64/uint64 outside ±2^53 decode as bigint.
 * A value JSON cannot hold (bin, ext, non-string map keys, undefined) or undecodable bytes throw
 * WsCodecError; the connection is then closed with 1007.
 */
import { Packr, Unpackr } from 'msgpackr';
import { QmpFramer, scalarValue, serializePlain, type JsonNode, type JsonPlain } from '@qmpmux/protocol';

export class WsCodecError extends Error {
  readonly code = 'QMPMUX_WS_BAD_MSGPACK';
}

/** Deeper than QEMU accepts (1024), so QEMU's own nesting error still answers depth 1025; deeper still is refused here. */
const MAX_DEPTH = 2048;

// 'auto': int64/uint64 within ±2^53 as number, beyond as bigint (documented; missing from msgpackr's .d.ts).
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: false, int64AsType: 'auto' as 'bigint' });

/** Encodes the core's outgoing JSON messages; one instance per connection (it holds a partial message, if any). */
export class MsgpackEncoder {
  private readonly framer = new QmpFramer({ allowNonFinite: true, maxMessageBytes: Number.MAX_SAFE_INTEGER });
  private readonly packr = new Packr({ useRecords: false });

  /** One frame per whole message in `json`. */
  encode(json: Buffer): Buffer[] {
    const out: Buffer[] = [];
    for (const ev of this.framer.push(json)) {
      if (ev.type === 'message') out.push(this.packr.pack(nodeValue(ev.root)));
      else throw new WsCodecError(`cannot re-encode outgoing JSON: ${ev.type === 'error' ? ev.desc : 'oversize'}`);
    }
    return out;
  }
}

/** A JsonNode as a value msgpackr packs losslessly: objects as Maps (member order kept), ints exact. */
function nodeValue(node: JsonNode): unknown {
  switch (node.kind) {
    case 'object':
      return new Map(node.members.map((m) => [m.key, nodeValue(m.value)]));
    case 'array':
      return node.items.map(nodeValue);
    default:
      return scalarValue(node);
  }
}

/** A binary frame → the JSON text of each value in it, each followed by a newline (so a bare number ends). */
export function decodeMsgpackFrame(frame: Buffer): Buffer {
  let values: unknown[];
  try {
    values = unpackr.unpackMultiple(frame) as unknown[];
  } catch (e) {
    throw new WsCodecError(`invalid MessagePack: ${(e as Error).message}`);
  }
  let text = '';
  for (const v of values) text += serializePlain(jsonValue(v, 0)) + '\n';
  return Buffer.from(text, 'utf8');
}

function jsonValue(v: unknown, depth: number): JsonPlain {
  switch (typeof v) {
    case 'string':
    case 'boolean':
    case 'number':
    case 'bigint':
      return v;
    case 'object':
      if (v === null) return null;
      if (depth >= MAX_DEPTH) throw new WsCodecError(`MessagePack value nested deeper than ${MAX_DEPTH}`);
      if (Array.isArray(v)) return v.map((x) => jsonValue(x, depth + 1));
      if (v instanceof Map) {
        const o: { [k: string]: JsonPlain } = Object.create(null);
        for (const [k, x] of v) {
          if (typeof k !== 'string') throw new WsCodecError(`MessagePack map key of type ${typeof k}: JSON keys are strings`);
          o[k] = jsonValue(x, depth + 1);
        }
        return o;
      }
      if (Object.getPrototypeOf(v) === Object.prototype) {
        const o: { [k: string]: JsonPlain } = Object.create(null);
        for (const [k, x] of Object.entries(v)) o[k] = jsonValue(x, depth + 1);
        return o;
      }
      throw new WsCodecError(`MessagePack ${v.constructor?.name ?? 'object'} value has no JSON form`);
    default:
      throw new WsCodecError(`MessagePack ${typeof v} value has no JSON form`);
  }
}
