/**
 * One client's virtual monitor: QEMU's greeting, negotiation answered locally with QEMU's exact texts,
 * QEMU's input framing, and QEMU's reading discipline — input is parsed only while the client may have
 * another in-band command outstanding (1 without OOB, 8 queued with OOB), exactly as QEMU suspends its
 * monitor. Replies go back in issue order; exec-oob replies may overtake.
 *
 * Phases: connecting -> waiting (for QEMU) -> capabilities -> command -> (closing) -> closed.
 */
import { QmpFramer, checkEnvelope, errorReply, returnReply, serializeQemu, toPlain, qdictOrder, type FrameEvent, type JsonNode, type JsonPlain } from '@qmpmux/protocol';
import type { Conn } from '@qmpmux/transports';
import { QMPMUX_ERRORS, errorLine, errorText, refuse, type Refusal } from './errors.ts';
import { FdSlot, type FdBundle } from './fd-slot.ts';
import { extendReply } from './introspection.ts';
import type { Limits } from './limits.ts';
import type { OutputAccount, OutputBudget } from './output-budget.ts';
import type { Logger } from './log.ts';
import type { PluginHost } from './plugin-host.ts';
import { Reply } from './reply.ts';
import type { ClientInfo, CommandContext, CommandVerdict, QmpEvent, ReplyContext, ReplyVerdict } from './types.ts';
import { FD_CONSUMERS, Source, closeFds, type UpstreamLink } from './upstream.ts';
import type { UpstreamReply } from './upstream-message.ts';
import { disconnectReason, type Observer, type ReplySource } from './observe.ts';
import { cacheKey, singleFlightKey } from './query-cache.ts';

export type SessionPhase = 'connecting' | 'waiting' | 'capabilities' | 'command' | 'closing' | 'closed';

/** After refusing an oversize message, input is read and discarded this long before closing, so the
 *  client can read the error instead of meeting a connection reset. */
const OVERSIZE_GRACE_MS = 500;

interface Item {
  out: Buffer | undefined;
  /** A forwarded exec-oob command (counted in oobOutstanding until answered). */
  oob?: boolean;
}

export interface SessionDeps {
  link: UpstreamLink;
  plugins: PluginHost;
  limits: Limits;
  log: Logger;
  onClosed(s: Session): void;
  observer: Observer;
  /** Deliver events to this client (default true; virtual clients get none). */
  events?: boolean;
  /** The process-wide bound on all clients' output. */
  budget: OutputBudget;
}

const CRLF = '\r\n';
/** Why a client that does not read its output is disconnected (observe.ts: slow_consumer). */
const SLOW_CONSUMER = 'output buffer full';
const line = (text: string) => Buffer.from(text + CRLF, 'latin1');

export class Session {
  phase: SessionPhase = 'connecting';
  principal: string | undefined;
  readonly attributes = new Map<string, unknown>();
  readonly connectedAt = new Date();
  readonly stats = { commands: 0, events: 0 };
  oob = false;
  /** Highest event seq this client has been sent (live or replayed). */
  lastEventSeq = 0;

  private readonly framer: QmpFramer;
  private readonly input: { buf: Buffer; fds: number[] | undefined }[] = [];
  private inputOffset = 0;
  private inputBytes = 0;
  private readPaused = false;
  private readonly inband: Item[] = [];
  private readonly fdSlot = new FdSlot();
  private readonly source: Source;
  private hookChain: Promise<void> = Promise.resolve();
  private waitTimer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private pumping = false;
  private oobOutstanding = 0;
  /** This client's share of the process-wide output budget. */
  private readonly output: OutputAccount;
  /** Output queued to this client now, as the budget counts it (bytes). */
  get queuedOutput(): number {
    return this.output.bytes;
  }
  /** What plugins see of this client. */
  readonly view: ClientInfo;

  private readonly deps: Required<SessionDeps>;

  constructor(
    readonly id: number,
    readonly conn: Conn,
    deps: SessionDeps,
  ) {
    // Copied field by field, in one order, every field present: whoever builds the deps (a proxy, the
    // warm-up, the control socket), every session's deps object has one shape, so code V8 compiled for
    // the warm-up's sessions is not thrown away ("wrong map") at the first real client.
    this.deps = {
      link: deps.link,
      plugins: deps.plugins,
      limits: deps.limits,
      log: deps.log,
      onClosed: deps.onClosed,
      observer: deps.observer,
      events: deps.events ?? true,
      budget: deps.budget,
    };
    this.framer = new QmpFramer({ maxMessageBytes: deps.limits.maxMessageBytes });
    this.source = new Source(`client ${id}`);
    conn.onData = (chunk, fds) => this.onData(chunk, fds);
    conn.onClose = () => {
      clearTimeout(this.flushTimer);
      this.output.close(); // a closing client's output counted until its connection really closed
      this.close('connection closed');
    };
    this.output = deps.budget.open(() => this.evict());
    conn.onDrain = () => this.output.set(conn.writableLength);
    this.view = clientView(this);
  }

  get peer() {
    return this.conn.peer;
  }
  /** fds received from this client and still held (metrics). */
  get heldFds(): number {
    return this.fdSlot.held;
  }
    get negotiated(): boolean {
    return this.phase === 'command';
  }

  // ---- life ----------------------------------------------------------------------------------------

  /** Start reading. Input waits (unparsed, bounded) until the greeting has gone out. */
  start(): void {
    this.conn.start();
  }

  /** QEMU is not there yet: wait, with a bound, then refuse with a clear message. */
  waitForUpstream(): void {
    if (this.phase !== 'connecting') return;
    this.phase = 'waiting';
    this.waitTimer = setTimeout(() => {
      if (this.phase !== 'waiting') return;
      this.refuse('UPSTREAM_UNAVAILABLE', this.deps.link.lastError);
    }, this.deps.limits.upstreamWaitMs);
  }

  greet(greeting: Buffer): void {
    if (this.phase !== 'connecting' && this.phase !== 'waiting') return;
    clearTimeout(this.waitTimer);
    this.phase = 'capabilities';
    this.write(greeting);
    this.pump();
  }

  /** Refuse before (or instead of) the greeting: one error object, then close. */
  refuse(code: 'UPSTREAM_UNAVAILABLE' | 'REFUSED', why: string): void {
    if (this.phase === 'closed') return;
    this.write(line(errorLine(code, undefined, why)));
    this.close(errorText(code, why), true);
  }

  close(reason: string, flush = false): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    clearTimeout(this.waitTimer);
    this.deps.link.dropSource(this.source);
    this.fdSlot.closeAll();
    for (const c of this.input) if (c.fds) closeFds(c.fds);
    this.input.length = 0;
    this.inband.length = 0;
    if (flush && this.conn.writableLength > 0) {
      // The last output goes, for a bounded time; until the connection closes it stays in the budget.
      this.conn.end();
      this.flushTimer = setTimeout(() => {
        this.conn.destroy();
        this.output.close();
      }, this.deps.limits.closeFlushMs).unref();
    } else {
      if (flush) this.conn.end();
      else this.conn.destroy();
      this.output.close();
    }
    this.deps.log.debug('client closed', { client: this.id, reason });
    this.deps.observer.clientDisconnected(this.conn.peer.transport, disconnectReason(reason));
    this.deps.onClosed(this);
  }

  // ---- output --------------------------------------------------------------------------------------

  private write(buf: Buffer): void {
    if (this.phase === 'closed') return;
    this.conn.write(buf);
    const queued = this.conn.writableLength;
    if (queued > this.deps.limits.maxClientOutputBytes) {
      this.deps.log.warn('client does not read its output: disconnected (maxClientOutputBytes)', { client: this.id, queued });
      return this.close(SLOW_CONSUMER);
    }
    this.output.set(queued); // may disconnect the clients with the largest queues, this one too
  }

  /** The process-wide output budget is spent and this client's queue is among the largest. */
  private evict(): void {
    if (this.phase === 'closed') return this.conn.destroy(); // closing already: drop its last output
    this.deps.log.warn('client does not read its output: disconnected (maxTotalClientOutputBytes: all clients together, largest queues first)', {
      client: this.id,
      queued: this.output.bytes,
      limit: this.deps.budget.limit,
    });
    this.close(SLOW_CONSUMER);
  }

  /** A live event: only to negotiated clients, never twice (replay may have sent it already). */
  deliverEvent(ev: QmpEvent): void {
    if (this.phase !== 'command' || ev.seq <= this.lastEventSeq || this.deps.events === false) return;
    this.lastEventSeq = ev.seq;
    this.stats.events++;
    this.write(ev.raw);
  }

  private complete(item: Item, out: Buffer, inband: boolean): void {
    if (this.phase === 'closed') return;
    item.out = out;
    if (!inband) {
      this.write(out);
      if (item.oob && this.oobOutstanding-- === this.deps.limits.maxClientOobInflight) this.pump();
      return;
    }
    while (this.inband.length && this.inband[0]!.out) {
      this.write(this.inband.shift()!.out!);
      if ((this.phase as SessionPhase) === 'closed') return; // write() may have closed a slow client
    }
    this.pump();
  }

  private local(text: string, inband = true): void {
    const item: Item = { out: undefined };
    if (inband) this.inband.push(item);
    this.complete(item, line(text), inband);
  }

  // ---- input ---------------------------------------------------------------------------------------

  private onData(chunk: Buffer, fds: number[]): void {
    if (this.phase === 'closed' || this.phase === 'closing') return closeFds(fds);
    if (fds.length > this.deps.limits.maxClientPendingFds) closeFds(fds.splice(this.deps.limits.maxClientPendingFds));
    this.input.push({ buf: chunk, fds: fds.length ? fds : undefined });
    this.inputBytes += chunk.length;
    if (this.inputBytes > this.deps.limits.maxClientInputBytes && !this.readPaused) {
      this.readPaused = true;
      this.conn.pause();
    }
    this.pump();
  }

  /** May another message be read now? (QEMU's monitor suspend/resume.) */
  private canRead(): boolean {
    if (this.phase !== 'capabilities' && this.phase !== 'command') return false;
    if (!this.oob) return this.inband.length === 0;
    // QEMU reads on while 8 in-band commands are queued; exec-oob ones it runs at once. qmpmux also
    // bounds a client's exec-oob commands in flight, so a flood of them cannot grow without limit.
    return this.inband.length <= this.deps.limits.maxClientInbandQueue && this.oobOutstanding < this.deps.limits.maxClientOobInflight;
  }

  private pump(): void {
    if (this.pumping) return; // re-entered from a synchronous reply
    this.pumping = true;
    try {
      while (this.input.length && this.canRead()) {
        const head = this.input[0]!;
        if (this.inputOffset === 0 && head.fds) {
          this.fdSlot.replace(head.fds);
          head.fds = undefined;
        }
        const { offset, event } = this.framer.next(head.buf, this.inputOffset);
        this.inputBytes -= offset - this.inputOffset;
        this.inputOffset = offset;
        if (offset >= head.buf.length) {
          this.input.shift();
          this.inputOffset = 0;
        }
        if (event) this.onFrame(event);
      }
    } finally {
      this.pumping = false;
    }
    if (this.readPaused && this.inputBytes <= this.deps.limits.maxClientInputBytes / 2 && this.phase !== 'closed') {
      this.readPaused = false;
      this.conn.resume();
    }
  }

  private onFrame(ev: FrameEvent): void {
    switch (ev.type) {
      case 'error':
        return this.local(errorLine('QMP_INPUT', undefined, ev.desc));
      case 'oversize':
        this.deps.log.warn('client message too large: disconnected', { client: this.id, limit: ev.limit });
        this.write(line(errorLine('MESSAGE_TOO_LARGE', undefined, ev.limit)));
        this.phase = 'closing';
        for (const c of this.input.splice(0)) if (c.fds) closeFds(c.fds);
        this.inputBytes = 0;
        if (this.readPaused) this.conn.resume();
        this.waitTimer = setTimeout(() => this.close('message too large', true), OVERSIZE_GRACE_MS);
        return;
      case 'message':
        return this.onMessage(ev.root, ev.raw);
    }
  }

  private onMessage(root: JsonNode, raw: Buffer): void {
    const env = checkEnvelope(root, this.oob);
    const idText = env.id ? serializeQemu(env.id) : undefined;
    if (!env.ok) {
      // With OOB negotiated, an exec-oob message is dispatched at once, errors included.
      const immediate = this.oob && root.kind === 'object' && root.members.some((m) => m.key === 'exec-oob');
      return this.local(errorLine('QMP_INPUT', idText, env.desc), !immediate);
    }
    if (this.phase === 'capabilities') {
      if (env.command !== 'qmp_capabilities') return this.local(errorLine('CAPABILITIES_FIRST', idText));
      return this.negotiate(env.arguments, idText);
    }
    this.stats.commands++;
    const bundle = this.fdSlot.attach();
    const item: Item = { out: undefined };
    if (!env.oob) this.inband.push(item);
    else {
      item.oob = true;
      this.oobOutstanding++;
    }
    const ctx: CommandContext = {
      client: this.view,
      command: env.command,
      arguments: env.arguments ? (toPlain(env.arguments) as Record<string, JsonPlain>) : undefined,
      oob: env.oob,
      idText,
      fds: bundle && !bundle.taken && FD_CONSUMERS.has(env.command) ? bundle.fds : [],
      receivedAt: process.hrtime.bigint(),
      state: new Map(),
    };
    // Without rewrites the client's own bytes go upstream, only the id replaced.
    const idNode = env.id;
    const pre = idNode ? raw.subarray(0, idNode.start) : Buffer.from('{"id": ');
    const post = idNode ? raw.subarray(idNode.end) : Buffer.concat([Buffer.from(', '), raw.subarray(1)]);
    const forward = (verdict: CommandVerdict, answeredBy: number) => this.dispatch(ctx, item, verdict, answeredBy, bundle, pre, post);
    const plugins = this.deps.plugins;
    if (!plugins.hasCommandHooks) return forward({ action: 'continue' }, plugins.plugins.length);
    this.hookChain = this.hookChain.then(async () => {
      const { verdict, answeredBy } = await plugins.command(ctx);
      forward(verdict, answeredBy);
    });
  }

  private dispatch(ctx: CommandContext, item: Item, verdict: CommandVerdict, answeredBy: number, bundle: FdBundle | undefined, pre: Buffer, post: Buffer): void {
    if (this.phase === 'closed') return this.fdSlot.release(bundle);
    if (verdict.action !== 'continue') {
      this.fdSlot.release(bundle);
      const result = verdict.action === 'reply' ? { return: verdict.return } : { error: { class: verdict.class, desc: verdict.desc } };
      return this.finish(ctx, item, Reply.local('plugin', ctx.command, answeredBy, result));
    }
    const executed = verdict.command ?? ctx.command;
    const consumer = FD_CONSUMERS.has(executed);
    const fds = consumer ? this.fdSlot.take(bundle) : undefined;
    this.fdSlot.release(bundle);
    const plain = verdict.command === undefined && verdict.arguments === undefined && !ctx.oob && !fds;
    const link = this.deps.link;
    const ckey = plain ? cacheKey(executed, ctx.arguments) : undefined;
    if (ckey !== undefined) {
      const hit = link.cache.get(ckey);
      if (hit) {
        this.deps.observer.cacheHit(executed);
        return this.finish(ctx, item, Reply.upstream(executed, answeredBy, hit, 'cache').cachedAs(link.cache, ckey, link.cache.generation));
      }
    }
    const generation = link.cache.generation;
    const onReply = (upstream: UpstreamReply) => {
      const reply = this.fromQemu(executed, answeredBy, upstream);
      if (ckey !== undefined && !reply.isError) link.cache.put(ckey, reply.cachedAs(link.cache, ckey, generation).upstreamReply!, generation);
      this.finish(ctx, item, reply);
    };
    const onLost = () => this.finish(ctx, item, Reply.local('qmpmux', executed, answeredBy, lost));
    const skey = plain ? singleFlightKey(executed, ctx.arguments) : undefined;
    if (skey !== undefined && link.joinSingleFlight(skey, { onReply, onLost })) return this.deps.observer.singleFlightJoined(executed);
    let build: (id: number) => Buffer;
    if (verdict.command !== undefined || verdict.arguments !== undefined) {
      const args = verdict.arguments ?? ctx.arguments;
      const head = `{"${ctx.oob ? 'exec-oob' : 'execute'}": ${serializeQemu(executed)}${args ? `, "arguments": ${serializeQemu(args)}` : ''}, "id": `;
      build = (id) => Buffer.from(`${head}${id}}`, 'utf8');
    } else {
      build = (id) => Buffer.concat([pre, Buffer.from(String(id)), post]);
    }
    const req = { build, oob: ctx.oob, consumer, fds, command: executed, onReply, onLost };
    if (skey !== undefined) link.submitSingleFlight(skey, req);
    else link.submit(this.source, req);
  }

  /** QEMU's reply; for query-commands/query-qmp-schema with qmpmux's own commands added. */
  private fromQemu(executed: string, answeredBy: number, upstream: UpstreamReply): Reply {
    try {
      const grown = extendReply(executed, upstream, this.deps.plugins.ownCommands);
      if (grown) return Reply.upstream(executed, answeredBy, grown.reply, 'qemu', grown.value);
    } catch (e) {
      this.deps.log.error(`a plugin's command declaration cannot be introspected: ${(e as Error).message}; ${executed} answered as QEMU did`);
    }
    return Reply.upstream(executed, answeredBy, upstream, 'qemu');
  }

  /** A reply is known: pass it back through the plugins (reverse order) and out in issue order. */
  private finish(ctx: CommandContext, item: Item, reply: Reply): void {
    if (this.phase === 'closed') return;
    const plugins = this.deps.plugins;
    const sent = (out: Buffer, isError: boolean) => {
      this.complete(item, out, !ctx.oob);
      this.deps.observer.commandReplied(ctx.command, isError ? 'error' : 'ok', reply.from, Number(process.hrtime.bigint() - ctx.receivedAt) / 1e9);
    };
    if (!plugins.hasReplyHooks) return sent(reply.bytes(ctx.idText), reply.isError);
    const rc: ReplyContext = { command: ctx, source: reply.source, executed: reply.executed, result: () => reply.result(), memo: (key, compute) => reply.memo(key, compute) };
    if (reply.source === 'qmpmux') {
      // The link is gone and the client is about to be closed: the error goes out now; plugins (an
      // audit log) still see it, but cannot replace it.
      sent(reply.bytes(ctx.idText), true);
      void plugins.reply(rc, reply.answeredBy);
      return;
    }
    void plugins.reply(rc, reply.answeredBy).then((v: ReplyVerdict | void) => {
      if (v) sent(Reply.bytesOf(v, ctx.idText), 'error' in v);
      else sent(reply.bytes(ctx.idText), reply.isError);
    });
  }

  // ---- negotiation ---------------------------------------------------------------------------------

  /** qmp_capabilities, answered with QEMU's exact texts and check order. */
  private negotiate(args: JsonNode | undefined, idText: string | undefined): void {
    const fail = (r: Refusal) => this.local(errorReply(r.class, r.desc, idText));
    let wantOob = false;
    if (args && args.kind === 'object') {
      const enable = args.members.find((m) => m.key === 'enable')?.value;
      if (enable) {
        if (enable.kind !== 'array') return fail(refuse('ARG_TYPE', 'enable', 'array'));
        for (const [i, el] of enable.items.entries()) {
          if (el.kind !== 'string') return fail(refuse('ARG_TYPE', `enable[${i}]`, 'string'));
          // QEMU's own wording for an unknown capability (its visitor has no name for the member).
          if (el.value !== 'oob') return fail(refuse('ARG_VALUE', 'null', el.value));
          wantOob = true;
        }
      }
      const extra = qdictOrder(args.members.map((m) => m.key)).find((k) => k !== 'enable');
      if (extra !== undefined) return fail(refuse('ARG_UNEXPECTED', extra));
    }
    if (wantOob && !this.deps.link.oob) return fail(refuse('CAPABILITY_UNAVAILABLE', 'oob'));
    this.phase = 'command';
    this.oob = wantOob;
    this.local(returnReply('{}', idText));
    void this.deps.plugins.negotiated(this.view);
  }
}

const lost = { error: { class: QMPMUX_ERRORS.UPSTREAM_LOST.cls, desc: errorText('UPSTREAM_LOST') } };

/** The read-only view of a session that plugins get (principal and attributes are theirs to set). */
function clientView(s: Session): ClientInfo {
  return Object.freeze({
    id: s.id,
    connectedAt: s.connectedAt,
    attributes: s.attributes,
    get peer() {
      return s.peer;
    },
    get principal() {
      return s.principal;
    },
    set principal(p: string | undefined) {
      s.principal = p;
    },
    get negotiated() {
      return s.negotiated;
    },
    get oob() {
      return s.oob;
    },
    get stats() {
      return { commands: s.stats.commands, events: s.stats.events };
    },
  });
}
