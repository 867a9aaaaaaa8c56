/**
 * A QMP client for Node over unix (with fd passing), TCP and WebSocket (`ws://`, `wss://`, qmpmux's
 * listener), typed by QEMU's QAPI schema (@qmpmux/qapi-types):
 *
 *   const qmp = await QmpClient.connect('unix:/run/vm.qmp');
 *   const status = await qmp.execute('query-status');          // StatusInfo
 *   await qmp.execute('getfd', { fdname: 'fd0' }, { fds: [fd] });
 *   await qmp.executeOob('migrate-pause');                     // only allow-oob commands compile
 *   qmp.on('STOP').subscribe((e) => …);                        // e.data typed by QmpEvents
 *
 * Errors are typed: QmpError (cls, desc) for error replies; QmpDisconnectedError for commands in
 * flight when the connection drops (the bounded pending map is failed at once); QmpNotConnectedError
 * for commands issued while not connected; QmpTooManyPendingError past `maxPending`.
 *
 * With `reconnect`, a dropped connection is opened again with exponential backoff and negotiated as
 * before; `events$`, `on()`, `events()` and `messages$` go on across reconnects, and `state$` tells
 * where the client is (see QmpClientState). Messages are parsed by @qmpmux/protocol's lossless framer:
 * integers beyond 2^53 arrive as bigint, as the generated types say.
 *
 * Untyped use stays available for names known only at run time: `execute(name: string, args)`
 * (a literal name must be a known command or a `__vendor_…` extension), and `execute<T>(name, …)`.
 */
import { BehaviorSubject, Subject, filter, type Observable } from 'rxjs';
import { QmpFramer, serializeQemu, toPlain, type JsonPlain } from '@qmpmux/protocol';
import { closeFds, connect as connectTransport, type Conn } from '@qmpmux/transports';
import type { QmpEventName } from '@qmpmux/qapi-types';
import { QmpDisconnectedError, QmpError, QmpNotConnectedError, QmpTooManyPendingError, type QmpErrorClass } from './errors.ts';
import type {
  CommandNameOf,
  ExecuteRest,
  ExtensionCommands,
  OobCheck,
  OobOptions,
  QmpClientState,
  QmpEventMessage,
  QmpGreeting,
  QmpTypedEvent,
  ReturnOf,
  UntypedCommandName,
  UntypedExecuteOptions,
} from './types.ts';
import { connectWebSocket, isWebSocketAddress, type WebSocketClientOptions } from './ws.ts';


export interface ReconnectOptions {
  /** Delay before the first attempt after a drop (default 100 ms). */
  initialDelayMs?: number;
  /** Longest delay between attempts (default 5000 ms). */
  maxDelayMs?: number;
  /** Each failed attempt multiplies the delay by this (default 2). */
  factor?: number;
  /** Each delay is shortened by a random part of up to this fraction, 0..1 (default 0.2). */
  jitter?: number;
  /** Give up (state `closed`) after this many failed attempts in a row (default: never). */
  maxAttempts?: number;
}

export interface ClientOptions {
  /** Negotiate OOB when the server offers it (default false). */
  oob?: boolean;
  /** Commands waiting for a reply at once (default 1024); more is an error, not a queue. */
  maxPending?: number;
  /** Skip qmp_capabilities (for tests of negotiation itself). */
  negotiate?: boolean;
  /**
   * Open the connection again when it drops (not when close() was called), with exponential backoff.
   * `true` takes the defaults of ReconnectOptions. The first connect is not retried: it rejects.
   */
  reconnect?: boolean | ReconnectOptions;
  /** Token, headers and `ws` options for `ws://` and `wss://` addresses. */
  websocket?: WebSocketClientOptions;
}

interface Pending {
  command: string;
  resolve(v: JsonPlain): void;
  reject(e: Error): void;
}

const RECONNECT_DEFAULTS: Required<ReconnectOptions> = { initialDelayMs: 100, maxDelayMs: 5000, factor: 2, jitter: 0.2, maxAttempts: Infinity };

/**
 * A QMP connection. `X` declares extension commands on top of QEMU's (see ExtensionCommands), e.g.
 * `QmpClient.connect<QmpmuxCommands>(addr)`; without it the client knows exactly QEMU's commands.
 */
export class QmpClient<X extends ExtensionCommands<X> = {}> {
  /** The greeting of the current connection. */
  greeting!: QmpGreeting;
  /** Every message as received (raw bytes without the line end), for tests and tools. Survives reconnects. */
  readonly messages$ = new Subject<{ raw: Buffer; value: JsonPlain }>();
  /** Every event, untyped. Survives reconnects; completes when the client closes for good. */
  readonly events$: Observable<QmpEventMessage>;
  /** The client's state, current value first. */
  readonly state$: Observable<QmpClientState>;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private framer = newFramer();
  private readonly eventsSubject = new Subject<QmpEventMessage>();
  private readonly stateSubject = new BehaviorSubject<QmpClientState>('connecting');
  private greetingWaiter: { resolve(v: QmpGreeting): void; reject(e: Error): void } | undefined;
  private readonly maxPending: number;
  private readonly reconnectOpts: Required<ReconnectOptions> | undefined;
  private current: Conn | undefined;
  private lastConn: Conn;
  private userClosed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private oobNegotiated = false;

  private constructor(
    readonly address: string,
    private readonly opts: ClientOptions,
    conn: Conn,
  ) {
    this.maxPending = opts.maxPending ?? 1024;
    this.events$ = this.eventsSubject.asObservable();
    this.state$ = this.stateSubject.asObservable();
    this.reconnectOpts = opts.reconnect ? { ...RECONNECT_DEFAULTS, ...(opts.reconnect === true ? {} : opts.reconnect) } : undefined;
    this.lastConn = conn;
  }

  /** Connect, read the greeting and negotiate; rejects with QmpError when the server refuses before the greeting. */
  static async connect<X extends ExtensionCommands<X> = {}>(address: string, opts: ClientOptions = {}): Promise<QmpClient<X>> {
    const c = new QmpClient<X>(address, opts, await openConn(address, opts));
    try {
      await c.establish(c.lastConn);
    } catch (e) {
      c.userClosed = true;
      c.lastConn.destroy();
      c.finalClose();
      throw e;
    }
    c.setState('connected');
    return c;
  }

  /** The connection in use (the latest one, after reconnects). */
  get conn(): Conn {
    return this.lastConn;
  }
  get state(): QmpClientState {
    return this.stateSubject.value;
  }
  /** True once the client is closed for good. */
  get closed(): boolean {
    return this.state === 'closed';
  }
  /** OOB was negotiated on the current connection. */
  get oob(): boolean {
    return this.oobNegotiated;
  }
  /** Commands waiting for their reply. */
  get pendingCount(): number {
    return this.pending.size;
  }

  // ---- events --------------------------------------------------------------------------------------

  /** Events of one name, typed by QmpEvents (or, for a name known only at run time, untyped; or all). */
  on<N extends QmpEventName>(name: N): Observable<QmpTypedEvent<N>>;
  on(name?: string): Observable<QmpEventMessage>;
  on(name?: string): Observable<QmpEventMessage> {
    return name ? this.events$.pipe(filter((e) => e.event === name)) : this.events$;
  }

  /** Events of any of these names, typed (a discriminated union on `event`). */
  events<N extends QmpEventName>(name: N, ...more: N[]): Observable<QmpTypedEvent<N>> {
    const names = new Set<string>([name, ...more]);
    return this.events$.pipe(filter((e) => names.has(e.event))) as unknown as Observable<QmpTypedEvent<N>>;
  }

  // ---- commands ------------------------------------------------------------------------------------

  /**
   * Run a command. Typed by name: arguments as QEMU's schema declares them (optional when the command
   * has none or all are optional), the promise resolves with its return type. `fds` go with the command
   * (unix only); `oob: true` sends it with exec-oob (only for commands that allow it).
   */
  execute<K extends CommandNameOf<X>>(command: K, ...rest: ExecuteRest<X, K>): Promise<ReturnOf<X, K>>;
  /** A command whose name is known only at run time (or an extension's), untyped. */
  execute<T = JsonPlain, S extends string = string>(command: S & UntypedCommandName<S, X>, args?: Record<string, JsonPlain>, opts?: UntypedExecuteOptions): Promise<T>;
  execute(command: string, args?: unknown, opts: UntypedExecuteOptions = {}): Promise<unknown> {
    if (this.state !== 'connected') return Promise.reject(new QmpNotConnectedError(this.state as Exclude<QmpClientState, 'connected'>));
    return this.send(command, args as Record<string, JsonPlain> | undefined, opts);
  }

  /** Run a command out-of-band (exec-oob): only commands that allow it compile. Needs `oob: true` at connect. */
  executeOob<K extends CommandNameOf<X>>(command: K & OobCheck<X, K>, ...rest: ExecuteRest<X, K, OobOptions>): Promise<ReturnOf<X, K>> {
    const [args, opts] = rest as [Record<string, JsonPlain> | undefined, OobOptions | undefined];
    return this.execute(command as string, args, { ...opts, oob: true }) as Promise<ReturnOf<X, K>>;
  }

  /** Send bytes as they are (tests of framing). */
  sendRaw(data: Buffer | string, fds?: number[]): void {
    this.lastConn.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, fds);
  }

  /** Close for good (also stops reconnecting). Commands waiting fail with QmpDisconnectedError. */
  close(): void {
    this.userClosed = true;
    clearTimeout(this.reconnectTimer);
    if (this.current) this.current.end();
    else this.finalClose();
  }

  // ---- internals -----------------------------------------------------------------------------------

  private setState(s: QmpClientState): void {
    if (this.stateSubject.value !== s) this.stateSubject.next(s);
  }

  private send(command: string, args: Record<string, JsonPlain> | undefined, opts: UntypedExecuteOptions): Promise<JsonPlain> {
    const conn = this.current;
    if (!conn) return Promise.reject(new QmpDisconnectedError());
    if (this.pending.size >= this.maxPending) return Promise.reject(new QmpTooManyPendingError(this.maxPending));
    const id = this.nextId++;
    const msg = `{"${opts.oob ? 'exec-oob' : 'execute'}": ${serializeQemu(command)}${args ? `, "arguments": ${serializeQemu(args)}` : ''}, "id": ${id}}`;
    return new Promise<JsonPlain>((resolve, reject) => {
      this.pending.set(id, { command, resolve, reject });
      conn.write(Buffer.from(msg, 'utf8'), opts.fds);
    });
  }

  /** Attach to a fresh connection, wait for its greeting and negotiate. */
  private async establish(conn: Conn): Promise<void> {
    this.lastConn = conn;
    this.current = conn;
    this.framer = newFramer();
    this.oobNegotiated = false;
    const greeting = new Promise<QmpGreeting>((resolve, reject) => (this.greetingWaiter = { resolve, reject }));
    conn.onData = (chunk, fds) => {
      closeFds(fds); // never keep fds we did not ask for
      if (conn === this.current) this.onData(chunk);
    };
    conn.onClose = () => this.onConnClose(conn);
    conn.start();
    this.greeting = await greeting;
    if (this.opts.negotiate !== false) {
      const wantOob = Boolean(this.opts.oob) && (this.greeting.QMP?.capabilities ?? []).includes('oob');
      await this.send('qmp_capabilities', wantOob ? { enable: ['oob'] } : undefined, {});
      this.oobNegotiated = wantOob;
    }
  }

  private onData(chunk: Buffer): void {
    for (const ev of this.framer.push(chunk)) {
      if (ev.type !== 'message') continue;
      const value = toPlain(ev.root) as Record<string, JsonPlain>;
      this.messages$.next({ raw: ev.raw, value });
      if (this.greetingWaiter && 'QMP' in value) {
        const w = this.greetingWaiter;
        this.greetingWaiter = undefined;
        w.resolve(value as unknown as QmpGreeting);
      } else if (this.greetingWaiter && 'error' in value && value.id === undefined) {
        // Refused before the greeting (qmpmux: no principal, QEMU unavailable, …).
        const w = this.greetingWaiter;
        this.greetingWaiter = undefined;
        const e = value.error as { class: string; desc: string };
        w.reject(new QmpError(e.class as QmpErrorClass, e.desc));
      } else if ('event' in value) {
        this.eventsSubject.next({ ...(value as unknown as QmpEventMessage), raw: ev.raw });
      } else if (typeof value.id === 'number' && this.pending.has(value.id)) {
        const p = this.pending.get(value.id)!;
        this.pending.delete(value.id);
        if ('error' in value) {
          const e = value.error as { class: string; desc: string };
          p.reject(new QmpError(e.class as QmpErrorClass, e.desc, p.command));
        } else p.resolve(value.return as JsonPlain);
      }
    }
  }

  private onConnClose(conn: Conn): void {
    if (conn !== this.current) return;
    this.current = undefined;
    this.greetingWaiter?.reject(new QmpDisconnectedError());
    this.greetingWaiter = undefined;
    this.failPending();
    if (this.userClosed || !this.reconnectOpts || this.state === 'connecting') {
      // The first connect failing is reported by connect(); a reconnect attempt failing is retried by reconnectLoop.
      if (this.state !== 'connecting' || this.userClosed) this.finalClose();
      return;
    }
    this.scheduleReconnect(0);
  }

  private failPending(): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) p.reject(new QmpDisconnectedError());
  }

  private scheduleReconnect(failures: number): void {
    const r = this.reconnectOpts!;
    if (failures >= r.maxAttempts) return this.finalClose();
    this.setState('reconnecting');
    const base = Math.min(r.maxDelayMs, r.initialDelayMs * r.factor ** failures);
    const delay = base * (1 - Math.random() * Math.min(1, Math.max(0, r.jitter)));
    this.reconnectTimer = setTimeout(() => void this.attempt(failures), delay);
  }

  private async attempt(failures: number): Promise<void> {
    if (this.userClosed) return;
    this.setState('connecting');
    let conn: Conn | undefined;
    try {
      conn = await openConn(this.address, this.opts);
      if (this.userClosed) {
        conn.destroy();
        return this.finalClose();
      }
      await this.establish(conn);
    } catch {
      if (conn && conn === this.current) {
        this.current = undefined;
        conn.destroy();
      }
      this.failPending();
      if (this.userClosed) return this.finalClose();
      return this.scheduleReconnect(failures + 1);
    }
    if (this.userClosed) {
      conn.end();
      return;
    }
    this.setState('connected');
  }

  private finalClose(): void {
    if (this.state === 'closed') return;
    clearTimeout(this.reconnectTimer);
    this.failPending();
    this.setState('closed');
    this.stateSubject.complete();
    this.eventsSubject.complete();
    this.messages$.complete();
  }
}

function newFramer(): QmpFramer {
  return new QmpFramer({ allowNonFinite: true, maxMessageBytes: 256 * 1024 * 1024 });
}

function openConn(address: string, opts: ClientOptions): Promise<Conn> {
  return isWebSocketAddress(address) ? connectWebSocket(address, opts.websocket) : connectTransport(address);
}
