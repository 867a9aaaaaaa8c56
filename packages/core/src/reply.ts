/**
 * A reply on its way back to one client: who produced it, the bytes that client must receive (its own
 * id spliced in), and its content for the plugins' onReply hooks — parsed on demand from QEMU's bytes,
 * or, for an answer qmpmux or a plugin gave, the value itself (never serialized and parsed back).
 */
import { errorReply, returnReply, serializeQemu, type JsonPlain } from '@qmpmux/protocol';
import type { QueryCache } from './query-cache.ts';
import type { ReplyContext } from './types.ts';
import type { UpstreamReply } from './upstream-message.ts';

export type ReplyResult = ReturnType<ReplyContext['result']>;
export type ReplySource = ReplyContext['source'];

const CRLF = '\r\n';
const CLOSE = Buffer.from('}' + CRLF);

/**
 * Verdicts plugins computed through ReplyContext.memo: unchanging by contract, so their bytes are
 * built once (the return value serialized, up to where the id goes) and reused for every client.
 */
const memoized = new WeakMap<object, Buffer | null>();

export class Reply {
  private constructor(
    /** Where it came from, for metrics: a cached answer is QEMU's, from earlier on the same link. */
    readonly from: ReplySource | 'cache',
    /** The command name that ran (after rewrites). */
    readonly executed: string,
    /** How many plugins saw the command: the reply passes back through those, in reverse. */
    readonly answeredBy: number,
    readonly isError: boolean,
    private readonly toBytes: (idText: string | undefined) => Buffer,
    private readonly parse: () => ReplyResult,
    /** QEMU's reply, when it is one (what the query cache keeps). */
    readonly upstreamReply?: UpstreamReply,
  ) {}

  /** Who produced it, as plugins see it (ReplyContext.source). */
  get source(): ReplySource {
    return this.from === 'cache' ? 'qemu' : this.from;
  }

  private parsed: ReplyResult | undefined;
  /** Where it is cached (query-cache.ts): the answer's key and the link's generation then. */
  private cached: { cache: QueryCache; key: string; generation: number } | undefined;

  /** This is (an equal copy of) the link's cached answer under `key`, given at `generation`. */
  cachedAs(cache: QueryCache, key: string, generation: number): this {
    this.cached = { cache, key, generation };
    return this;
  }

  /** ReplyContext.memo: kept per link for a cached answer, computed every time otherwise. */
  memo<T>(key: string, compute: () => T): T {
    const c = this.cached;
    if (!c) return compute();
    return c.cache.view(c.key, c.generation, key, () => {
      const v = compute();
      if (v && typeof v === 'object' && !memoized.has(v)) memoized.set(v, null);
      return v;
    });
  }

  /** QEMU's reply: its bytes, only the id replaced. */
  static upstream(executed: string, answeredBy: number, reply: UpstreamReply, from: 'qemu' | 'cache', value?: JsonPlain): Reply {
    return new Reply(
      from,
      executed,
      answeredBy,
      reply.isError,
      (id) => reply.forClient(id),
      value === undefined ? () => reply.result() : () => ({ return: value }),
      reply,
    );
  }

  /** An answer given here (a plugin's verdict, or qmpmux's own error): built from its value. */
  static local(source: 'plugin' | 'qmpmux', executed: string, answeredBy: number, result: ReplyResult): Reply {
    return new Reply(source, executed, answeredBy, 'error' in result, (id) => Reply.bytesOf(result, id), () => result);
  }

  /** The bytes of a reply with this content, as QEMU would write it for a client that sent `idText`. */
  static bytesOf(result: ReplyResult, idText: string | undefined): Buffer {
    const kept = 'return' in result ? memoized.get(result) : undefined;
    if (kept !== undefined && 'return' in result) {
      // `{"return": V` once; then the id (or none) and the end, per client.
      const head = kept ?? Buffer.from(`{"return": ${serializeQemu(result.return)}`, 'latin1');
      if (!kept) memoized.set(result, head);
      return Buffer.concat([head, idText === undefined ? CLOSE : Buffer.from(`, "id": ${idText}}${CRLF}`, 'latin1')]);
    }
    const text = 'error' in result ? errorReply(result.error.class, result.error.desc, idText) : returnReply(serializeQemu(result.return), idText);
    return Buffer.from(text + CRLF, 'latin1');
  }

  bytes(idText: string | undefined): Buffer {
    return this.toBytes(idText);
  }

  result(): ReplyResult {
    return (this.parsed ??= this.parse());
  }
}
