/**
 * The plugin's one NATS connection, kept up in the background: nothing in qmpmux waits for it.
 *
 * The first connection is tried at once and then again with a capped backoff (a NATS server that is
 * down when qmpmux starts changes nothing for local clients). Once connected, the client library
 * reconnects by itself (forever); should it give up and close (e.g. after repeated authorization
 * failures), this starts over. Every (re)connection runs the `onConnected` handlers (ensure the
 * stream and bucket, resume publishing) — one run at a time, in order.
 *
 * States: connecting -> connected <-> disconnected ; closed at shutdown.
 */
import { hostname } from 'node:os';
import { BehaviorSubject, type Observable } from 'rxjs';
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '@qmpmux/core';
import type { NatsOptions } from './options.ts';

export type NatsState = 'connecting' | 'connected' | 'disconnected' | 'closed';

/** First retry of the initial connection, and the cap of its backoff (ms). */
export const CONNECT_RETRY_MIN_MS = 250;
export const CONNECT_RETRY_MAX_MS = 5_000;
/** Wait between the library's reconnect attempts (ms). */
export const RECONNECT_WAIT_MS = 500;
/** Client pings (ms) and how many may go unanswered before the connection counts as stale (a stopped server). */
export const PING_INTERVAL_MS = 10_000;
export const MAX_PINGS_OUT = 3;

/** The client library's connection options for these plugin options (also what `qmpmux fleet` uses). */
export function connectionOptions(o: Pick<NatsOptions, 'servers' | 'user' | 'password' | 'token' | 'creds' | 'tls'>, name: string): ConnectionOptions {
  const c: ConnectionOptions = {
    servers: o.servers,
    name,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: RECONNECT_WAIT_MS,
    pingInterval: PING_INTERVAL_MS,
    maxPingOut: MAX_PINGS_OUT,
  };
  if (o.user !== undefined) Object.assign(c, { user: o.user, pass: o.password });
  if (o.token !== undefined) c.token = o.token;
  if (o.creds) c.authenticator = credsAuthenticator(o.creds.content);
  if (o.tls) c.tls = { caFile: o.tls.ca, certFile: o.tls.cert, keyFile: o.tls.key };
  return c;
}

export class NatsLink {
  private readonly states = new BehaviorSubject<NatsState>('connecting');
  private conn: NatsConnection | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = CONNECT_RETRY_MIN_MS;
  private readonly handlers: ((nc: NatsConnection) => Promise<void>)[] = [];
  private running: Promise<void> = Promise.resolve();
  private warned = false;

  constructor(
    private readonly opts: ConnectionOptions,
    private readonly log: Logger,
  ) {}

  static forPlugin(o: NatsOptions, vm: string, log: Logger): NatsLink {
    return new NatsLink(connectionOptions(o, `qmpmux ${vm}@${hostname()}`), log);
  }

  get state(): NatsState {
    return this.states.value;
  }
  get state$(): Observable<NatsState> {
    return this.states;
  }
  private get isClosed(): boolean {
    return this.states.value === 'closed';
  }
  get connected(): boolean {
    return this.states.value === 'connected';
  }
  /** The connection while there is one (it may be reconnecting). */
  get nc(): NatsConnection | undefined {
    return this.conn;
  }

  /** Run `h` on every (re)connection, after the ones registered before it. */
  onConnected(h: (nc: NatsConnection) => Promise<void>): void {
    this.handlers.push(h);
  }

  start(): void {
    void this.attempt();
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.states.next('closed');
    clearTimeout(this.retryTimer);
    const nc = this.conn;
    this.conn = undefined;
    await nc?.close().catch(() => {});
    this.states.complete();
  }

  private async attempt(): Promise<void> {
    if (this.isClosed) return;
    let nc: NatsConnection;
    try {
      nc = await connect(this.opts);
    } catch (e) {
      if (this.isClosed) return;
      const why = (e as Error).message;
      if (!this.warned) this.log.warn(`NATS unreachable (${why}); retrying in the background, local clients are not affected`, { servers: this.opts.servers });
      else this.log.debug('NATS still unreachable', { error: why });
      this.warned = true;
      this.retryTimer = setTimeout(() => void this.attempt(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, CONNECT_RETRY_MAX_MS);
      return;
    }
    if (this.isClosed) return void nc.close().catch(() => {});
    this.conn = nc;
    this.retryMs = CONNECT_RETRY_MIN_MS;
    this.warned = false;
    this.log.info(`connected to NATS ${nc.getServer()}`);
    void this.watch(nc);
    this.up(nc);
  }

  private up(nc: NatsConnection): void {
    this.states.next('connected');
    this.running = this.running.then(async () => {
      for (const h of this.handlers) {
        if (this.conn !== nc || !this.connected) return;
        await h(nc).catch((e: Error) => this.log.warn(`after connecting to NATS: ${e.message}`));
      }
    });
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (this.conn !== nc) return;
      if (s.type === 'disconnect' || s.type === 'staleConnection') {
        if (this.connected) this.log.warn(`NATS connection lost (${s.type}); reconnecting, events are kept until JetStream has them`);
        this.states.next('disconnected');
      } else if (s.type === 'reconnect') {
        this.log.info(`reconnected to NATS ${nc.getServer()}`);
        this.up(nc);
      }
    }
    // The iterator ends when the connection has closed for good.
    if (this.conn !== nc || this.isClosed) return;
    this.conn = undefined;
    this.states.next('disconnected');
    this.log.warn('the NATS client gave up on its connection; connecting again');
    this.retryTimer = setTimeout(() => void this.attempt(), this.retryMs);
  }
}
