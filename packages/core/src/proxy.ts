/**
 * A qmpmux instance in front of one QEMU: its listeners, its upstream link, its clients and plugins.
 * Several can live in one process (one per VM); nothing here is a process-wide singleton.
 */
import { Subject, type Observable } from 'rxjs';
import { errorReply, toPlain, type JsonPlain } from '@qmpmux/protocol';
import { listen, type Conn, type Listener, type WsListenOptions } from '@qmpmux/transports';
import { DEFAULT_LIMITS, type Limits } from './limits.ts';
import { createLogger, type Logger } from './log.ts';
import { PluginHost } from './plugin-host.ts';
import { Session } from './session.ts';
import { COMMAND_PREFIX, type ClientInfo, type Plugin, type PluginDefinition, type ProxyApi, type QmpEvent } from './types.ts';
import { UpstreamLink, type UpstreamState } from './upstream.ts';
import { parseOne, type RawEvent } from './upstream-message.ts';
import { QMPMUX_ERRORS } from './errors.ts';
import { ConfigError } from './config-error.ts';

export interface PluginSpec {
  definition: PluginDefinition<any>;
  options?: unknown;
}

export interface ProxyOptions {
  /** QEMU's QMP socket: unix:PATH or tcp:HOST:PORT. */
  upstream: string;
  /** Where clients connect: unix:PATH, tcp:HOST:PORT (repeatable). */
  listen: string[];
  limits?: Partial<Limits>;
  plugins?: PluginSpec[];
  log?: Logger;
  /** File mode for unix listener sockets. */
  unixMode?: number;
  /** Options of `ws://` and `wss://` listeners (origins, token subprotocol, keepalive, maxPayload, console). */
  websocket?: WsListenOptions;
}

export class Proxy implements ProxyApi {
  readonly limits: Limits;
  readonly link: UpstreamLink;
  readonly log: Logger;
  readonly sessions = new Map<number, Session>();
  readonly listeners: Listener[] = [];
  private host: PluginHost = new PluginHost([], createLogger('plugins', 'silent'));
  private readonly eventsOut = new Subject<QmpEvent>();
  private nextClientId = 0;
  private seq = 0;
  private stopping = false;
  private eventChain: Promise<void> = Promise.resolve();
  private pendingEvents = 0;

  private constructor(private readonly opts: ProxyOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.log = opts.log ?? createLogger();
    this.link = new UpstreamLink({ address: opts.upstream, limits: this.limits, log: this.log.child('upstream') });
  }

  /** Build a proxy: check plugin requirements and options (failing now, not at the first command). */
  static async create(opts: ProxyOptions): Promise<Proxy> {
    const p = new Proxy(opts);
    const specs = opts.plugins ?? [];
    const seen = new Set<string>();
    const plugins: Plugin[] = [];
    for (const [i, spec] of specs.entries()) {
      const def = spec.definition;
      for (const r of def.requires ?? []) {
        if (!seen.has(r)) throw new ConfigError(`plugins[${i}]`, `plugin '${def.name}' requires plugin '${r}' to be configured before it`);
      }
      const options = def.validate(spec.options ?? {}, `plugins[${i}].options`);
      plugins.push(await def.create(options, { name: def.name, log: p.log.child(def.name), proxy: p, commandPrefix: COMMAND_PREFIX }));
      seen.add(def.name);
    }
    p.host = new PluginHost(plugins, p.log.child('plugins'));
    return p;
  }

  // ---- ProxyApi ------------------------------------------------------------------------------------

  get clients(): ReadonlyMap<number, ClientInfo> {
    return this.sessions;
  }
  get events$(): Observable<QmpEvent> {
    return this.eventsOut;
  }
  get upstreamState$(): Observable<UpstreamState> {
    return this.link.state$;
  }
  get upstreamVersion(): JsonPlain | undefined {
    return this.link.version;
  }
  get lastEventSeq(): number {
    return this.seq;
  }
  continueEventSeq(seq: number): void {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`continueEventSeq: not a sequence number: ${seq}`);
    if (seq > this.seq) this.seq = seq;
  }
  execute(command: string, args?: Record<string, JsonPlain>, opts?: { fds?: number[] }): Promise<JsonPlain> {
    return this.link.execute(command, args, opts);
  }
  deliverEvents(clientId: number, events: readonly QmpEvent[]): number {
    const s = this.sessions.get(clientId);
    if (!s) return 0;
    let n = 0;
    for (const ev of events) {
      const before = s.lastEventSeq;
      s.deliverEvent(ev);
      if (s.lastEventSeq !== before) n++;
    }
    return n;
  }
  disconnect(clientId: number, reason: string): void {
    this.sessions.get(clientId)?.close(reason);
  }

  // ---- life ----------------------------------------------------------------------------------------

  async start(): Promise<void> {
    this.link.state$.subscribe((s) => this.onLinkState(s));
    this.link.events$.subscribe((e) => this.onEvent(e));
    this.link.start();
    for (const addr of this.opts.listen) {
      const l = await listen(addr, (c) => this.onConnection(c), { unixMode: this.opts.unixMode, ws: { ...this.opts.websocket, log: this.log.child('ws') } });
      this.listeners.push(l);
      this.log.info(`listening on ${l.bound}`);
    }
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await Promise.all(this.listeners.map((l) => l.close()));
    for (const s of [...this.sessions.values()]) s.close('qmpmux is shutting down', true);
    await this.link.close();
    await this.host.close();
    this.eventsOut.complete();
  }

  private onLinkState(s: UpstreamState): void {
    if (s === 'ready') {
      for (const sess of this.sessions.values()) if (sess.phase === 'waiting' || sess.phase === 'connecting') sess.greet(this.link.greeting!);
      return;
    }
    // The monitor went away: close greeted clients as QEMU's exit would (their in-flight commands
    // have already been answered with the link-lost error).
    for (const sess of [...this.sessions.values()]) {
      if (sess.phase === 'capabilities' || sess.phase === 'command') sess.close('QEMU monitor connection lost', true);
    }
  }

  private onConnection(conn: Conn): void {
    if (this.stopping) return conn.destroy();
    if (this.sessions.size >= this.limits.maxClients) {
      this.log.warn('too many clients: connection refused', { peer: conn.peer.address, maxClients: this.limits.maxClients });
      conn.write(Buffer.from(errorReply('GenericError', QMPMUX_ERRORS.TOO_MANY_CLIENTS.desc(this.limits.maxClients)) + '\r\n'));
      conn.end();
      return;
    }
    const s = new Session(++this.nextClientId, conn, {
      link: this.link,
      plugins: this.host,
      limits: this.limits,
      log: this.log,
      onClosed: (x) => this.onSessionClosed(x),
    });
    this.sessions.set(s.id, s);
    s.start();
    void this.host.clientConnect(s).then((v) => {
      if (s.phase === 'closed') return;
      if (v) {
        this.log.info('connection refused by policy', { client: s.id, peer: conn.peer.address, reason: v.reason });
        return s.refuse(QMPMUX_ERRORS.REFUSED.desc(v.reason));
      }
      if (this.link.state === 'ready') s.greet(this.link.greeting!);
      else s.waitForUpstream();
    });
  }

  private onSessionClosed(s: Session): void {
    if (this.sessions.get(s.id) !== s) return;
    this.sessions.delete(s.id);
    void this.host.clientDisconnect(s);
  }

  private onEvent(raw: RawEvent): void {
    let parsed: ReturnType<QmpEvent['value']> | undefined;
    const ev: QmpEvent = {
      seq: ++this.seq,
      name: raw.name,
      raw: raw.raw,
      value: () => (parsed ??= toPlain(parseOne(raw.raw)!) as unknown as ReturnType<QmpEvent['value']>),
    };
    if (!this.host.hasEventHooks) return this.broadcast(ev);
    // Bounded: when the hooks fall behind, stop reading QEMU until they catch up.
    if (++this.pendingEvents >= this.limits.maxPendingEvents) this.link.pauseReading();
    this.eventChain = this.eventChain.then(async () => {
      await this.host.event(ev);
      if (--this.pendingEvents === Math.floor(this.limits.maxPendingEvents / 2)) this.link.resumeReading();
      this.broadcast(ev);
    });
  }

  private broadcast(ev: QmpEvent): void {
    for (const s of this.sessions.values()) s.deliverEvent(ev);
    this.eventsOut.next(ev);
  }
}
