/**
 * A qmpmux instance in front of one QEMU: its listeners, its upstream link, its clients and plugins.
 * Several can live in one process (one per VM); nothing here is a process-wide singleton.
 */
import { Subject, type Observable } from 'rxjs';
import { parseMessage, toPlain, type JsonPlain } from '@qmpmux/protocol';
import { isLoopback, listen, parseAddress, type Conn, type Listener, type TlsListenOptions, type WsListenOptions } from '@qmpmux/transports';
import { DEFAULT_LIMITS, type Limits } from './limits.ts';
import { createLogger, type Logger } from './log.ts';
import { PluginError, PluginHost } from './plugin-host.ts';
import { Session } from './session.ts';
import { COMMAND_PREFIX, type ClientInfo, type Plugin, type PluginDefinition, type ProxyApi, type QmpEvent, type VirtualClient, type VirtualClientOptions } from './types.ts';
import { UpstreamLink } from './upstream.ts';
import type { UpstreamState } from './upstream-state.ts';
import type { RawEvent } from './upstream-message.ts';
import { errorLine } from './errors.ts';
import { ConfigError } from './config-error.ts';
import { DEFAULT_UNIX_MODE, DEFAULT_VM_NAME } from './vm-name.ts';
import { NO_OBSERVER, pluginMetrics, type Observer, type ProxyGauges } from './observe.ts';
import { passThroughPlugins, warmUp } from './warm-up.ts';
import { InProcessClient } from './virtual-client.ts';
import { OutputBudget } from './output-budget.ts';


export interface PluginSpec {
  definition: PluginDefinition<any>;
  options?: unknown;
}

export interface ProxyOptions {
  /** The VM's name (`[A-Za-z0-9_.-]{1,64}`), as plugins, logs and metrics see it; default `"default"`. */
  name?: string;
  /** QEMU's QMP socket: unix:PATH or tcp:HOST:PORT. */
  upstream: string;
  /** Where clients connect: unix:PATH, tcp:HOST:PORT (repeatable). */
  listen: string[];
  limits?: Partial<Limits>;
  plugins?: PluginSpec[];
  log?: Logger;
  /** File mode for unix listener sockets; default 0600 (DEFAULT_UNIX_MODE), set before listen(). */
  unixMode?: number;
  /**
   * Open TCP, TLS and WebSocket listeners on non-loopback addresses even where clients need not
   * authenticate (no TLS client certificate required, no plugin that refuses unidentified clients).
   * Default false: such a listener is refused at start-up, naming it.
   */
  allowUnauthenticated?: boolean;
  /** Certificate, key and client CA for `tls:` and `wss://` listeners. */
  tls?: TlsListenOptions;
  /** Options of `ws://` and `wss://` listeners (origins, token subprotocol, keepalive, maxPayload, console). */
  websocket?: WsListenOptions;
  /** Metrics: what the core reports as it works (observe.ts); default: nothing. */
  observer?: Observer;
  /**
   * The process-wide bound on all clients' output, shared by every Proxy of the process (create one
   * per process and give it to each). Default: a budget of this proxy's own, of
   * `limits.maxTotalClientOutputBytes` (which is not used when a budget is given: it has its own limit).
   */
  outputBudget?: OutputBudget;
  /**
   * Before listening, run this many commands (and events) through a loopback client against the live
   * link, so V8 has compiled the hot path before the first real client (warm-up.ts); default 0.
   * Listening waits for QEMU for at most `upstreamWaitMs` then.
   */
  warmUp?: number;
  /**
   * Where the plugin list and the listen list are in the config, for the paths a ConfigError names
   * (e.g. `{ plugins: 'config.vms[3].plugins', listen: 'config.vms[3].listen' }`); default `plugins`
   * and `listen`.
   */
  configPaths?: { plugins: string; listen: string };
}

/** A running plugin with the options it was given (raw, as configured) and took (validated). */
interface Loaded {
  definition: PluginDefinition<any>;
  plugin: Plugin;
  raw: unknown;
  options: unknown;
}

export class Proxy implements ProxyApi {
  readonly name: string;
  readonly limits: Limits;
  readonly link: UpstreamLink;
  readonly log: Logger;
  private readonly sessions = new Map<number, Session>();
  /** What plugins see of the sessions (ProxyApi.clients). */
  private readonly views = new Map<number, ClientInfo>();
  readonly listeners: Listener[] = [];
  readonly observer: Observer;
  /** The output budget this proxy's clients draw on (ProxyOptions.outputBudget). */
  readonly outputBudget: OutputBudget;
  private host: PluginHost = new PluginHost([], createLogger('plugins', 'silent'));
  private readonly eventsOut = new Subject<QmpEvent>();
  private nextClientId = 0;
  private seq = 0;
  private stopping = false;
  private started = false;
  /** Virtual clients opened before start(): connected when it starts. */
  private readonly early: InProcessClient[] = [];
  private eventChain: Promise<void> = Promise.resolve();
  private pendingEvents = 0;
  private loaded: Loaded[] = [];
  private reloading: Promise<void> = Promise.resolve();

  private constructor(private readonly opts: ProxyOptions) {
    this.name = opts.name ?? DEFAULT_VM_NAME;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.log = opts.log ?? createLogger();
    this.observer = opts.observer ?? NO_OBSERVER;
    this.outputBudget = opts.outputBudget ?? new OutputBudget(this.limits.maxTotalClientOutputBytes);
    this.link = new UpstreamLink({ address: opts.upstream, limits: this.limits, log: this.log.child('upstream'), observer: this.observer });
  }

  /** Build a proxy: check plugin requirements and options (failing now, not at the first command). */
  static async create(opts: ProxyOptions): Promise<Proxy> {
    const checked = Proxy.validate(opts);
    const p = new Proxy(opts);
    try {
      for (const { definition: def, raw, options } of checked) {
        const plugin = await def.create(options, { name: def.name, vm: p.name, log: p.log.child(def.name), proxy: p, commandPrefix: COMMAND_PREFIX, metrics: pluginMetrics(p.observer, def.name) });
        p.loaded.push({ definition: def, plugin, raw, options });
      }
    } catch (e) {
      // The plugins already created (an open audit log, a NATS connection) are closed again.
      for (const l of p.loaded.reverse()) await l.plugin.close?.().catch((e2: unknown) => p.log.error(new PluginError(l.definition.name, 'close', e2).message));
      throw e;
    }
    p.host = new PluginHost(
      p.loaded.map((l) => l.plugin),
      p.log.child('plugins'),
    );
    return p;
  }

  /**
   * What create() would refuse, checked without creating anything: plugin placement, every plugin's
   * options, and listeners reachable from other machines without authentication. Throws ConfigError
   * naming the field (see `configPaths`); returns the validated options.
   */
  static validate(opts: ProxyOptions): { definition: PluginDefinition<any>; raw: unknown; options: unknown }[] {
    const specs = opts.plugins ?? [];
    const path = opts.configPaths?.plugins ?? 'plugins';
    const checked = specs.map((spec, i) => {
      checkPlacement(specs, i, path);
      const raw = spec.options ?? {};
      return { definition: spec.definition, raw, options: spec.definition.validate(raw, `${path}[${i}].options`) };
    });
    checkExposure(opts, checked);
    return checked;
  }

  /**
   * Give the running plugins new options (config reload), all or nothing. The plugin list must be the
   * same as at start (same names, same order: adding, removing or reordering plugins needs a restart).
   * Every plugin's new options are validated first; any failure throws ConfigError and changes nothing.
   * Then each plugin with `reconfigure` gets its new options, in order (also when the text of its
   * options did not change: they may name files to read again, such as token files); a plugin without
   * it must keep options equal to what it has. If a `reconfigure` throws, the plugins already
   * reconfigured get their previous options back and the error (a PluginError) is thrown.
   * Connected clients stay connected. Reloads run one at a time. Plugins' views of cached answers
   * (ReplyContext.memo) are forgotten once it is done.
   */
  reload(specs: readonly PluginSpec[]): Promise<void> {
    // Plugins' views of cached answers (ReplyContext.memo) may depend on their options: recomputed.
    const run = this.reloading.then(() => this.reloadNow(specs)).finally(() => this.link.cache.clearViews());
    this.reloading = run.catch(() => {});
    return run;
  }

  private async reloadNow(specs: readonly PluginSpec[]): Promise<void> {
    const names = (list: readonly { definition: PluginDefinition<any> }[]) => list.map((x) => x.definition.name).join(', ') || '(none)';
    if (specs.length !== this.loaded.length || specs.some((sp, i) => sp.definition.name !== this.loaded[i]!.definition.name)) {
      throw new ConfigError(this.opts.configPaths?.plugins ?? 'plugins', `the list of plugins changed (running: ${names(this.loaded)}; new: ${names(specs)}); restart qmpmux to add, remove or reorder plugins`);
    }
    const next = specs.map((spec, i) => {
      const l = this.loaded[i]!;
      const raw = spec.options ?? {};
      const at = `${this.opts.configPaths?.plugins ?? 'plugins'}[${i}].options`;
      const options = l.definition.validate(raw, at);
      if (!l.plugin.reconfigure && JSON.stringify(raw) !== JSON.stringify(l.raw)) {
        throw new ConfigError(at, `plugin '${l.definition.name}' cannot change its options while running; restart qmpmux`);
      }
      return { ...l, raw, options };
    });
    const done: Loaded[] = [];
    for (const [i, n] of next.entries()) {
      if (!n.plugin.reconfigure) continue;
      try {
        await n.plugin.reconfigure(n.options);
        done.push(this.loaded[i]!);
      } catch (e) {
        for (const old of done.reverse()) {
          await old.plugin.reconfigure!(old.options).catch((e2: unknown) => this.log.error(new PluginError(old.definition.name, 'reconfigure (rollback)', e2).message));
        }
        throw new PluginError(n.definition.name, 'reconfigure', e);
      }
    }
    this.loaded = next;
  }

  // ---- ProxyApi ------------------------------------------------------------------------------------

  get clients(): ReadonlyMap<number, ClientInfo> {
    return this.views;
  }
  get events$(): Observable<QmpEvent> {
    return this.eventsOut;
  }
  get upstreamState$(): Observable<UpstreamState> {
    return this.link.state$;
  }
  get upstreamState(): UpstreamState {
    return this.link.state;
  }
  get upstreamAddress(): string {
    return this.opts.upstream;
  }
  get listenerAddresses(): readonly string[] {
    return this.listeners.map((l) => l.bound);
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
  get ownCommands(): readonly string[] {
    return [...new Set(this.loaded.flatMap((l) => (l.plugin.commands ?? []).map((c) => c.name)))];
  }
  openVirtualClient(opts: VirtualClientOptions): VirtualClient {
    if (!opts.principal || !opts.via) throw new TypeError('openVirtualClient: principal and via must be non-empty strings');
    const peer = Object.freeze({ transport: 'virtual' as const, address: opts.address ?? opts.via, virtual: Object.freeze({ via: opts.via, principal: opts.principal }) });
    const client = new InProcessClient(peer, this.limits.maxMessageBytes);
    if (this.started) this.connectVirtual(client);
    else this.early.push(client);
    return client;
  }

  private connectVirtual(client: InProcessClient): void {
    const s = this.onConnection(client.conn, client.peer.virtual!.principal);
    client.id = s?.id;
  }

  /** Point-in-time figures for metrics (read at scrape time). */
  gauges(): ProxyGauges {
    const clientsByTransport: Record<string, number> = {};
    let pendingFds = 0;
    let clientOutputBytes = 0;
    for (const s of this.sessions.values()) {
      clientsByTransport[s.peer.transport] = (clientsByTransport[s.peer.transport] ?? 0) + 1;
      pendingFds += s.heldFds;
      clientOutputBytes += s.queuedOutput;
    }
    const d = this.link.depths;
    return { clientsByTransport, pendingFds, clientOutputBytes, upstreamQueued: d.queued, upstreamInflight: d.inflight, pendingEvents: this.pendingEvents, cacheEntries: this.link.cache.size };
  }

  /**
   * A session for the warm-up (warm-up.ts): not listed among clients, not counted in metrics (it
   * reports to the observer's warm-up twin), and no plugin sees it (its plugin host holds only
   * pass-through plugins with the real ones' hooks).
   */
  warmUpSession(conn: Conn): Session {
    const host = new PluginHost(passThroughPlugins(this.host), this.log.child('plugins'));
    const observer = this.observer.warmUpTwin?.() ?? NO_OBSERVER;
    return new Session(0, conn, { link: this.link, plugins: host, limits: this.limits, log: this.log, onClosed: () => {}, observer, budget: this.outputBudget });
  }

  // ---- life ----------------------------------------------------------------------------------------

  async start(): Promise<void> {
    this.link.state$.subscribe((s) => this.onLinkState(s));
    this.link.events$.subscribe((e) => this.onEvent(e));
    this.link.start();
    this.started = true;
    for (const c of this.early.splice(0)) this.connectVirtual(c);
    if (this.opts.warmUp) await warmUp(this, this.opts.warmUp, this.opts.listen);
    for (const addr of this.opts.listen) {
      const l = await listen(addr, (c) => this.onConnection(c), {
        unixMode: this.opts.unixMode ?? DEFAULT_UNIX_MODE,
        tls: this.opts.tls,
        ws: { ...this.opts.websocket, log: this.log.child('ws') },
        onClientError: (err, peer) => this.log.info('connection failed before it started', { listener: addr, peer, error: err.message }),
      });
      this.listeners.push(l);
      this.log.info(`listening on ${l.bound}`);
      const a = parseAddress(addr);
      if (a.kind === 'tcp' && !isLoopback(a.host)) {
        this.log.warn(`plain TCP on a non-loopback address (${l.bound}): anyone who can reach it can use the monitor, unencrypted; prefer tls:${a.host}:${a.port} or a unix socket`);
      }
    }
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const c of this.early.splice(0)) c.close();
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

  /** A new connection (a virtual client's when `virtualPrincipal` is given): its session, unless refused at once. */
  private onConnection(conn: Conn, virtualPrincipal?: string): Session | undefined {
    if (this.stopping) return void conn.destroy();
    if (this.sessions.size >= this.limits.maxClients) {
      this.log.warn('too many clients: connection refused', { peer: conn.peer.address, maxClients: this.limits.maxClients });
      conn.write(Buffer.from(errorLine('TOO_MANY_CLIENTS', undefined, this.limits.maxClients) + '\r\n'));
      conn.end();
      return;
    }
    const s = new Session(++this.nextClientId, conn, {
      link: this.link,
      plugins: this.host,
      limits: this.limits,
      log: this.log,
      onClosed: (x) => this.onSessionClosed(x),
      observer: this.observer,
      events: virtualPrincipal === undefined,
      budget: this.outputBudget,
    });
    // A virtual client's declared principal holds from the start (the policy plugin confirms it).
    if (virtualPrincipal !== undefined) s.principal = virtualPrincipal;
    this.sessions.set(s.id, s);
    this.views.set(s.id, s.view);
    this.observer.clientConnected(conn.peer.transport);
    s.start();
    void this.host.clientConnect(s.view).then((v) => {
      if (s.phase === 'closed') return;
      if (v) {
        this.log.info('connection refused by policy', { client: s.id, peer: conn.peer.address, reason: v.reason });
        return s.refuse('REFUSED', v.reason);
      }
      if (this.link.state === 'ready') s.greet(this.link.greeting!);
      else s.waitForUpstream();
    });
    return s;
  }

  private onSessionClosed(s: Session): void {
    if (this.sessions.get(s.id) !== s) return;
    this.sessions.delete(s.id);
    this.views.delete(s.id);
    void this.host.clientDisconnect(s.view);
  }

  private onEvent(raw: RawEvent): void {
    let parsed: ReturnType<QmpEvent['value']> | undefined;
    const ev: QmpEvent = {
      seq: ++this.seq,
      name: raw.name,
      raw: raw.raw,
      value: () => (parsed ??= toPlain(parseMessage(raw.raw)!) as unknown as ReturnType<QmpEvent['value']>),
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

/**
 * A listener reachable from other machines must make clients authenticate: TLS (tls:, wss://) with
 * client certificates required, or a plugin that refuses connections it cannot identify (the policy
 * plugin without an `unmatched` fallback, e.g. with tokens). Otherwise anyone who can reach it gets
 * a full monitor — and HMP `migrate "exec:…"` runs a shell command as QEMU's user.
 */
function checkExposure(opts: ProxyOptions, plugins: readonly { definition: PluginDefinition<any>; options: unknown }[]): void {
  if (opts.allowUnauthenticated) return;
  const identified = plugins.filter((l) => l.definition.authenticates?.(l.options)).map((l) => l.definition.name);
  for (const [i, addr] of opts.listen.entries()) {
    const a = parseAddress(addr);
    if (a.kind === 'unix' || isLoopback(a.host)) continue;
    const secure = a.kind === 'tls' || (a.kind === 'ws' && a.secure);
    if (secure && opts.tls?.requireClientCert) continue;
    if (identified.length) continue;
    const why = secure ? 'TLS without required client certificates' : a.kind === 'tcp' ? 'plain TCP' : 'plain WebSocket';
    throw new ConfigError(
      opts.configPaths ? `${opts.configPaths.listen}[${i}]` : 'listen',
      `${addr} is on a non-loopback address and clients need not authenticate there (${why}, and no plugin identifies clients): require TLS client certificates (tls.ca), configure the policy plugin (e.g. with tokens), listen on loopback or a unix socket, or set "allowUnauthenticated": true`,
    );
  }
}

/**
 * The placement rules of plugin `i` against the rest of the list: `requires` (configured, earlier),
 * `after` (earlier when configured), `before` (later when configured). Every plugin is checked, so a
 * rule declared by either side of a pair holds.
 */
function checkPlacement(specs: readonly PluginSpec[], i: number, path: string): void {
  const def = specs[i]!.definition;
  const at = (name: string) => specs.findIndex((s) => s.definition.name === name);
  const fail = (why: string) => {
    throw new ConfigError(`${path}[${i}]`, why);
  };
  for (const r of def.requires ?? []) {
    const j = at(r);
    if (j < 0 || j > i) fail(`plugin '${def.name}' requires plugin '${r}' to be configured before it`);
  }
  for (const a of def.after ?? []) {
    const j = at(a);
    if (j > i) fail(`plugin '${def.name}' must come after plugin '${a}' (${path}[${j}]) in the list`);
  }
  for (const b of def.before ?? []) {
    const j = at(b);
    if (j >= 0 && j < i) fail(`plugin '${def.name}' must come before plugin '${b}' (${path}[${j}]) in the list`);
  }
}
