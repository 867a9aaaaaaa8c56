/**
 * The link to one QEMU monitor: connect, greeting, negotiation, a version probe, and then a fair,
 * bounded dispatcher for everybody's commands. One instance per QEMU; nothing here is process-wide.
 *
 * States (upstream-state.ts): idle -> connecting -> negotiating -> ready -> (lost) -> connecting … ;
 * closed at shutdown.
 */
import { BehaviorSubject, Subject } from 'rxjs';
import { QmpFramer, serializeQemu, type JsonPlain } from '@qmpmux/protocol';
import { closeFds, connect, type Conn } from '@qmpmux/transports';

export { closeFds };
import type { Limits } from './limits.ts';
import type { Logger } from './log.ts';
import { QMPMUX_ERRORS, QmpCommandError, UpstreamLostError, errorText } from './errors.ts';
import { classifyLine, classifyStructured, type RawEvent, type UpstreamMessage, UpstreamReply } from './upstream-message.ts';
import { NO_OBSERVER, type Observer } from './observe.ts';
import { QueryCache } from './query-cache.ts';
import { SingleFlight, type Joiner } from './single-flight.ts';
import type { UpstreamState } from './upstream-state.ts';

/** Commands that take the fd pending on the monitor (QEMU's single SCM_RIGHTS slot). */
/** Size of the rotating upstream id space (ids 0..99: at most two digits on the wire). */
const ID_SPACE = 100;
/** Ids remembered from dropped links, at most. */
const MAX_TOMBSTONES = 64;

export const FD_CONSUMERS: ReadonlySet<string> = new Set(['getfd', 'add-fd']);

/** One command on its way to QEMU. */
export interface UpstreamRequest {
  /** The wire bytes, given the upstream id to use. */
  build(id: number): Buffer;
  /** exec-oob: sent at once, outside the in-band window and fairness rotation. */
  oob: boolean;
  /** Takes QEMU's pending fd (getfd, add-fd): never two of these in flight. */
  consumer: boolean;
  /** fds to send with the first byte (only for consumers); owned by the link from submit() on. */
  fds?: number[];
  onReply(reply: UpstreamReply): void;
  /** The link was lost before a reply came. */
  onLost(): void;
  /** The command's name, for metrics. */
  command?: string;
}

/** A fairness unit: one client, or the plugins' internal queue. */
export class Source {
  readonly queue: UpstreamRequest[] = [];
  constructor(readonly name: string) {}
}

interface InFlight {
  req: UpstreamRequest;
  source: Source | undefined;
  /** Counts against the in-band window (dispatcher-sent, not exec-oob). */
  counted: boolean;
  /** process.hrtime.bigint() when written (metrics). */
  sentAt?: bigint;
  /** fds went upstream with it. */
  hadFds?: boolean;
}

export interface UpstreamOptions {
  address: string;
  limits: Limits;
  log: Logger;
  observer?: Observer;
}

export class UpstreamLink {
  readonly state$ = new BehaviorSubject<UpstreamState>('idle');
  /** Every event QEMU sends, in order. */
  readonly events$ = new Subject<RawEvent>();
  /** The greeting clients receive (QEMU's own bytes, with \r\n). */
  greeting: Buffer | undefined;
  /** QEMU offered oob in its greeting (and qmpmux enabled it). */
  oob = false;
  /** query-version's return, probed at every connect. */
  version: JsonPlain | undefined;
  /** Why the last connection attempt failed, for clients that cannot be served. */
  lastError = 'not connected yet';
  /** Answers that cannot change while this connection stands (query-cache.ts); emptied on reconnect. */
  readonly cache = new QueryCache();

  private conn: Conn | undefined;
  /**
   * Upstream ids are short: QEMU reads one byte per read() (~2.5 µs a byte here), so every digit of
   * the id costs latency. They rotate through 0..ID_SPACE-1 from a random start, skipping ids in
   * flight and ids still "tombstoned": in flight when a previous link dropped, whose late replies
   * QEMU may deliver on the next connection (QMP-NOTES §3). Such a reply is dropped and frees its id.
   */
  private cursor = Math.floor(Math.random() * ID_SPACE);
  private overflowId = ID_SPACE;
  private readonly tombstones = new Set<number>();
  private readonly inflight = new Map<number, InFlight>();
  private inbandInflight = 0;
  private consumerBusy = false;
  private readonly rotation = new Set<Source>();
  private readonly internal: Source;
  private backoff: number;
  private timer: NodeJS.Timeout | undefined;
  private lineParts: Buffer[] = [];
  private lineBytes = 0;
  private framer: QmpFramer | undefined; // set when QEMU's output is not compact (pretty=on)
  private greeted = false;
  private epoch = 0;
  private readonly observer: Observer;
  /** Shared pure queries not yet written to QEMU (single-flight.ts), in their own fairness source. */
  private readonly shared = new Source('single-flight');
  private readonly flights = new SingleFlight();

  constructor(private readonly opts: UpstreamOptions) {
    this.backoff = opts.limits.reconnectMinMs;
    this.internal = new Source('qmpmux');
    this.observer = opts.observer ?? NO_OBSERVER;
    this.state$.subscribe((s) => this.observer.upstreamState(s));
  }

  /** Commands waiting in the dispatcher's queues, and written to QEMU but unanswered (metrics). */
  /** Commands queued and in flight, and how many sources (clients) have a place in the rotation. */
  get depths(): { queued: number; inflight: number; sources: number } {
    let queued = 0;
    for (const s of this.rotation) queued += s.queue.length;
    return { queued, inflight: this.inflight.size, sources: this.rotation.size };
  }

  /**
   * Join an identical pure query that is still waiting to be written; false when there is none (then
   * submit it with submitSingleFlight, so later ones can join it).
   */
  joinSingleFlight(key: string, joiner: Joiner): boolean {
    return this.state === 'ready' && this.flights.join(key, joiner);
  }

  /** Queue a pure query others may join until it is written to QEMU. */
  submitSingleFlight(key: string, req: UpstreamRequest): void {
    if (this.state !== 'ready') return req.onLost();
    this.submit(this.shared, this.flights.open(key, req));
  }

  get state(): UpstreamState {
    return this.state$.value;
  }

  get address(): string {
    return this.opts.address;
  }

  start(): void {
    if (this.state !== 'idle') return;
    void this.connectOnce();
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.setState('closed');
    this.conn?.destroy();
    this.failAll();
  }

  /** Back-pressure from the proxy (event hooks behind): stop reading QEMU for a while. */
  pauseReading(): void {
    this.conn?.pause();
  }
  resumeReading(): void {
    this.conn?.resume();
  }

  /** Queue a client's in-band command (fairly rotated with every other source). */
  submit(source: Source, req: UpstreamRequest): void {
    if (req.oob) return this.sendNow(req, source);
    source.queue.push(req);
    this.rotation.add(source);
    this.pump();
  }

  /** Forget a source that went away: its queued commands are discarded, their fds closed. */
  dropSource(source: Source): void {
    this.rotation.delete(source);
    for (const req of source.queue.splice(0)) closeFds(req.fds);
    for (const f of this.inflight.values()) if (f.source === source) f.source = undefined;
  }

  /** Run a command for qmpmux itself or a plugin; resolves with its return value or rejects with QmpCommandError. */
  execute(command: string, args?: Record<string, JsonPlain>, opts: { fds?: number[] } = {}): Promise<JsonPlain> {
    return new Promise((resolve, reject) => {
      if (this.state !== 'ready') {
        closeFds(opts.fds);
        return reject(new UpstreamLostError());
      }
      if (this.internal.queue.length >= this.opts.limits.maxInternalQueue) {
        closeFds(opts.fds);
        return reject(new QmpCommandError(QMPMUX_ERRORS.INTERNAL_QUEUE_FULL.cls, errorText('INTERNAL_QUEUE_FULL')));
      }
      const body = `{"execute": ${serializeQemu(command)}${args ? `, "arguments": ${serializeQemu(args)}` : ''}, "id": `;
      this.submit(this.internal, {
        build: (id) => Buffer.from(`${body}${id}}`, 'utf8'),
        oob: false,
        consumer: FD_CONSUMERS.has(command),
        fds: opts.fds,
        onReply: (reply) => {
          const r = reply.result();
          if ('error' in r) reject(new QmpCommandError(r.error.class, r.error.desc));
          else resolve(r.return);
        },
        onLost: () => reject(new UpstreamLostError()),
      });
    });
  }

  // ---- connection life ---------------------------------------------------------------------------

  private setState(s: UpstreamState): void {
    if (this.state$.value !== s) this.state$.next(s);
  }

  private async connectOnce(): Promise<void> {
    if (this.state === 'closed') return;
    this.setState('connecting');
    const epoch = ++this.epoch;
    let conn: Conn;
    try {
      conn = await connect(this.opts.address);
    } catch (e) {
      this.lastError = `${this.opts.address}: ${(e as Error).message}`;
      return this.scheduleReconnect();
    }
    if ((this.state as UpstreamState) === 'closed' || epoch !== this.epoch) return conn.destroy(); // closed while connecting
    this.conn = conn;
    this.greeted = false;
    this.lineParts = [];
    this.lineBytes = 0;
    this.framer = undefined;
    this.setState('negotiating');
    conn.onData = (chunk, fds) => {
      closeFds(fds); // QEMU never sends fds; never keep any
      this.onData(chunk);
    };
    conn.onClose = (err) => this.onLinkClosed(conn, err);
    conn.start();
  }

  private scheduleReconnect(): void {
    if (this.state === 'closed') return;
    this.setState('connecting');
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.opts.limits.reconnectMaxMs);
    this.opts.log.debug(`upstream: reconnecting in ${delay} ms`, { reason: this.lastError });
    this.timer = setTimeout(() => void this.connectOnce(), delay);
  }

  private onLinkClosed(conn: Conn, err?: Error): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    if (this.state === 'closed') return this.failAll(); // our own shutdown
    const wasReady = this.state === 'ready';
    this.lastError = `${this.opts.address}: connection closed${err ? ` (${err.message})` : ''}`;
    this.opts.log.warn(wasReady ? 'QEMU monitor connection lost' : 'QEMU monitor closed during negotiation', { address: this.opts.address, error: err?.message ?? 'EOF' });
    this.failAll();
    // Subscribers (the proxy) close their clients on this state change, before anything else happens.
    this.setState('connecting');
    this.scheduleReconnect();
  }

  private allocId(): number {
    for (let k = 0; k < ID_SPACE; k++) {
      const id = this.cursor;
      this.cursor = (this.cursor + 1) % ID_SPACE;
      if (!this.inflight.has(id) && !this.tombstones.has(id)) return id;
    }
    return this.overflowId++; // more than ID_SPACE outstanding (exec-oob floods): longer ids
  }

  private failAll(): void {
    for (const id of this.inflight.keys()) this.tombstones.add(id);
    for (const id of this.tombstones) {
      if (this.tombstones.size <= MAX_TOMBSTONES) break;
      this.tombstones.delete(id); // oldest first
    }
    const lost = [...this.inflight.values()];
    this.inflight.clear();
    this.cache.invalidate();
    for (const req of this.shared.queue.splice(0)) req.onLost();
    this.inbandInflight = 0;
    this.consumerBusy = false;
    for (const f of lost) f.req.onLost();
    for (const req of this.internal.queue.splice(0)) {
      closeFds(req.fds);
      req.onLost();
    }
    this.rotation.clear();
  }

  /** Write one of the link's own commands directly (negotiation, probe, fd drain); undefined if the link dropped. */
  private direct(command: string, argsText?: string): Promise<UpstreamReply | undefined> {
    const conn = this.conn;
    if (!conn) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const id = this.allocId();
      const req: UpstreamRequest = { build: () => Buffer.alloc(0), oob: false, consumer: false, onReply: resolve, onLost: () => resolve(undefined) };
      this.inflight.set(id, { req, source: undefined, counted: false });
      conn.write(Buffer.from(`{"execute": "${command}"${argsText ? `, "arguments": ${argsText}` : ''}, "id": ${id}}`));
    });
  }

  private async negotiate(greeting: Buffer, value: JsonPlain): Promise<void> {
    const caps = ((value as { QMP?: { capabilities?: string[] } }).QMP?.capabilities ?? []) as string[];
    const conn = this.conn;
    const oob = caps.includes('oob');
    const neg = await this.direct('qmp_capabilities', oob ? '{"enable": ["oob"]}' : undefined);
    if (!neg || neg.isError) {
      if (neg && this.conn === conn) {
        this.lastError = `${this.opts.address}: capabilities negotiation failed`;
        conn?.destroy();
      }
      return;
    }
    const ver = await this.direct('query-version');
    if (!ver || this.conn !== conn) return;
    const r = ver.result();
    this.version = 'return' in r ? r.return : undefined;
    this.oob = oob;
    this.greeting = greeting;
    this.backoff = this.opts.limits.reconnectMinMs;
    this.opts.log.info('connected to QEMU', { address: this.opts.address, oob, version: this.version as never });
    this.setState('ready');
    this.pump();
  }

  // ---- reading -----------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.framer) return this.onFramed(chunk);
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) {
        if (start < chunk.length) {
          this.lineParts.push(chunk.subarray(start));
          this.lineBytes += chunk.length - start;
          if (this.lineBytes > this.opts.limits.maxUpstreamMessageBytes) this.tooLarge();
        }
        return;
      }
      let line = chunk.subarray(start, nl);
      if (this.lineParts.length) {
        this.lineParts.push(line);
        line = Buffer.concat(this.lineParts);
        this.lineParts = [];
        this.lineBytes = 0;
      }
      start = nl + 1;
      if (line.length && line[line.length - 1] === 13) line = line.subarray(0, line.length - 1);
      if (!this.greeted && !(line.length > 1 && line[0] === 0x7b && line[line.length - 1] === 0x7d)) {
        // Not one object per line: a pretty monitor. Parse structurally from here on.
        this.framer = new QmpFramer({ allowNonFinite: true, maxMessageBytes: this.opts.limits.maxUpstreamMessageBytes });
        return this.onFramed(Buffer.concat([line, Buffer.from('\n'), chunk.subarray(start)]));
      }
      if (line.length) this.onMessage(classifyLine(line));
    }
  }

  private onFramed(chunk: Buffer): void {
    for (const ev of this.framer!.push(chunk)) {
      if (ev.type === 'message') this.onMessage(classifyStructured(ev.raw, false, ev.root));
      else if (ev.type === 'oversize') return this.tooLarge();
      else this.opts.log.warn('unparseable output from QEMU', { ev: ev as never });
    }
  }

  /** QEMU sent a message beyond maxUpstreamMessageBytes: drop the link rather than buffer without end. */
  private tooLarge(): void {
    this.opts.log.error(`a message from QEMU exceeds maxUpstreamMessageBytes (${this.opts.limits.maxUpstreamMessageBytes}): dropping the link`);
    this.lineParts = [];
    this.lineBytes = 0;
    this.conn?.destroy();
  }

  private onMessage(m: UpstreamMessage): void {
    switch (m.kind) {
      case 'reply': {
        const f = this.inflight.get(m.id);
        if (!f) {
          const stale = this.tombstones.delete(m.id);
          this.opts.log.warn(stale ? 'dropping a stale reply from before the reconnect' : 'dropping a reply with an unknown id', { id: m.id });
          return;
        }
        this.inflight.delete(m.id);
        if (f.counted) this.inbandInflight--;
        if (f.sentAt !== undefined && f.req.command) this.observer.upstreamReplied(f.req.command, Number(process.hrtime.bigint() - f.sentAt) / 1e9);
        if (f.req.consumer) {
          // fds were closed by the transport once sent; `hadFds` remembers that some went.
          if (m.reply.isError && f.hadFds) void this.drainPendingFd();
          else this.consumerBusy = false;
        }
        try {
          f.req.onReply(m.reply);
        } finally {
          this.pump();
        }
        return;
      }
      case 'event':
          this.observer.event(m.event.name);
        this.events$.next(m.event);
        return;
      case 'greeting':
        if (this.greeted) {
          this.opts.log.warn('a second greeting from QEMU: ignored');
          return;
        }
        this.greeted = true;
        void this.negotiate(m.raw, m.value);
        return;
      default:
        this.opts.log.warn('unexpected message from QEMU, dropped', { raw: m.raw.toString('latin1', 0, 200) });
    }
  }

  /**
   * A consumer that failed may have left the fd we sent pending in QEMU's single slot, where the next
   * consumer — another client's — would take it. Take it under a reserved name and close it.
   */
  private async drainPendingFd(): Promise<void> {
    const args = '{"fdname": "qmpmux-drain"}';
    const took = await this.direct('getfd', args);
    if (took && !took.isError) await this.direct('closefd', args);
    this.consumerBusy = false;
    this.pump();
  }

  // ---- writing -----------------------------------------------------------------------------------

  private sendNow(req: UpstreamRequest, source: Source | undefined): void {
    if (this.state !== 'ready' || !this.conn) {
      closeFds(req.fds);
      return req.onLost();
    }
    const id = this.allocId();
    const hadFds = !!req.fds?.length;
    this.inflight.set(id, { req, source, counted: !req.oob, hadFds, sentAt: process.hrtime.bigint() });
    if (!req.oob) this.inbandInflight++;
    if (req.consumer) this.consumerBusy = true;
    this.conn.write(req.build(id), hadFds ? req.fds : undefined);
  }

  private pump(): void {
    if (this.state !== 'ready') return;
    while (this.inbandInflight < this.opts.limits.maxUpstreamInflight && this.rotation.size) {
      let picked: Source | undefined;
      for (const s of this.rotation) {
        const head = s.queue[0];
        if (!head) {
          this.rotation.delete(s);
          continue;
        }
        if (head.consumer && this.consumerBusy) continue;
        picked = s;
        break;
      }
      if (!picked) return;
      const req = picked.queue.shift()!;
      this.rotation.delete(picked);
      if (picked.queue.length) this.rotation.add(picked); // to the back: round robin
      this.sendNow(req, picked);
    }
  }
}
