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
import type { NatsOptions, TlsFiles } from './options.ts';

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
  // A tls:// URL asks for TLS: without this the client library would settle for plain text with a
  // server that does not offer TLS.
  const tls = o.tls ?? (o.servers.some((s) => s.startsWith('tls://')) ? {} : undefined);
  if (tls) c.tls = { caFile: tls.ca, certFile: tls.cert, keyFile: tls.key };
  return c;
}

/**
 * `connect()`, with the client library's reconnection turned on only once connected (when `opts`
 * asks for it). With it on from the start, a server that closes the connection right after the TLS
 * handshake — one that refuses the client certificate, under TLS 1.3 — leaves `connect()` waiting for
 * its timeout and then reporting just "timeout" (@nats-io/nats-core 3.3: the close starts a
 * reconnection, which the pending connect waits on); with it off, `connect()` fails at once with the
 * server's TLS alert. The library reads the option at each disconnection.
 */
export async function connectNats(opts: ConnectionOptions): Promise<NatsConnection> {
  const nc = await connect({ ...opts, reconnect: false });
  if (opts.reconnect !== false) (nc as unknown as { options: ConnectionOptions }).options.reconnect = true;
  return nc;
}

/** Node's codes for a server certificate that no trusted CA signed. */
const UNKNOWN_ISSUER = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT']);

/**
 * Why a connection attempt failed, said for a person: TLS and authorization failures name what to
 * look at (`names`: what the CA and client certificate are called where they are configured).
 * `kind` tells failures of a different sort apart (a new kind is worth a new warning).
 */
export function connectFailure(e: unknown, tls: TlsFiles | undefined, names = { ca: 'tls.ca', cert: 'tls.cert' }): { kind: string; text: string } {
  const err = (e ?? {}) as { code?: string; reason?: string; message?: string };
  const code = err.code ?? '';
  const said = err.reason ?? err.message ?? String(e);
  if (/^ERR_SSL_.*ALERT_(BAD_CERTIFICATE|CERTIFICATE_|UNKNOWN_CA)/.test(code)) {
    return { kind: 'tls-refused', text: `the server refused the TLS handshake (${said}): ${tls?.cert ? `it does not accept the client certificate ${names.cert}` : `it requires a client certificate (${names.cert})`}` };
  }
  if (/^ERR_SSL_.*ALERT/.test(code)) return { kind: 'tls-refused', text: `the server refused the TLS handshake (${said})` };
  if ((code === 'ECONNRESET' || code === 'EPIPE') && tls) {
    const ask = tls.cert ? `does it accept the client certificate ${names.cert}?` : `does it require a client certificate (${names.cert})?`;
    return { kind: 'tls-refused', text: `${said}: the server closed the connection at TLS set-up; ${ask}` };
  }
  if (UNKNOWN_ISSUER.has(code)) return { kind: 'tls-untrusted', text: `the server's TLS certificate is not trusted (${said}): ${tls?.ca ? `the CA of ${names.ca} did not sign it` : `name the CA that signed it with ${names.ca}`}` };
  if (/^(CERT_|ERR_TLS_CERT)/.test(code)) return { kind: 'tls-untrusted', text: `the server's TLS certificate is not accepted: ${said}` };
  if (/does not support 'tls'/.test(said)) return { kind: 'tls-unavailable', text: `the server does not offer TLS, which ${tls ? 'the TLS settings ask' : 'a tls:// URL asks'} for` };
  if (/authorization violation|authentication/i.test(said)) return { kind: 'auth', text: `${said}: the server refused the credentials` };
  return { kind: code || 'other', text: said };
}

export class NatsLink {
  private readonly states = new BehaviorSubject<NatsState>('connecting');
  private conn: NatsConnection | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = CONNECT_RETRY_MIN_MS;
  private readonly handlers: ((nc: NatsConnection) => Promise<void>)[] = [];
  private running: Promise<void> = Promise.resolve();
  /** The kind of failure last warned about (one warning per kind while it lasts). */
  private warned: string | undefined;

  constructor(
    private readonly opts: ConnectionOptions,
    private readonly log: Logger,
    private readonly tls: TlsFiles | undefined = undefined,
  ) {}

  static forPlugin(o: NatsOptions, vm: string, log: Logger): NatsLink {
    return new NatsLink(connectionOptions(o, `qmpmux ${vm}@${hostname()}`), log, o.tls);
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
      nc = await connectNats(this.opts);
    } catch (e) {
      if (this.isClosed) return;
      const why = connectFailure(e, this.tls);
      if (this.warned !== why.kind) this.log.warn(`NATS unreachable: ${why.text}; retrying in the background, local clients are not affected`, { servers: this.opts.servers });
      else this.log.debug('NATS still unreachable', { error: why.text });
      this.warned = why.kind;
      this.retryTimer = setTimeout(() => void this.attempt(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, CONNECT_RETRY_MAX_MS);
      return;
    }
    if (this.isClosed) return void nc.close().catch(() => {});
    this.conn = nc;
    this.retryMs = CONNECT_RETRY_MIN_MS;
    this.warned = undefined;
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
