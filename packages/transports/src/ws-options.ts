/**
 * Options of `ws://` and `wss://` listeners, their defaults, and the subprotocol names. A `wss://`
 * listener takes its certificate, key and client CA from the same TLS material as `tls:` listeners.
 */

/** Subprotocol for text frames carrying exactly the bytes a socket client sees (the default). */
export const QMP_JSON = 'qmp.json';
/** Subprotocol for binary frames, one MessagePack value per QMP message. */
export const QMP_MSGPACK = 'qmp.msgpack';
/** Prefix of a subprotocol entry carrying a bearer token as base64url (for browsers, which cannot set headers). */
export const TOKEN_PREFIX = 'qmp.token.';

export type WsMode = 'json' | 'msgpack';

/** Where a refused handshake or a dropped connection is reported. Tokens never appear in it. */
export interface WsLog {
  warn(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
}

export interface WsListenOptions {
  /**
   * Origins allowed to open a WebSocket: exact `scheme://host[:port]` strings, `null` for opaque
   * origins, or `*` for any. Without the option only same-origin pages may connect (Origin's host:port
   * equals the Host header), which is what the built-in console needs. A handshake without an Origin
   * header (a non-browser client) is never refused for its origin. A refused origin gets 403.
   */
  origins?: readonly string[];
  /** Accept a bearer token offered as a `qmp.token.<base64url>` subprotocol entry. Default true. */
  tokenSubprotocol?: boolean;
  /** Ping every this many ms; 0 turns keepalive off. Default 30000. */
  keepaliveMs?: number;
  /** A peer that has not answered a ping within this many ms is dropped. Default: keepaliveMs. */
  keepaliveTimeoutMs?: number;
  /** Largest WebSocket message, checked on the declared frame length before buffering; a larger one
   *  closes that connection with 1009. Default 1 MiB. */
  maxPayload?: number;
  /** Serve the web console on a plain HTTP GET of the listener's path (and `/`). Default true. */
  console?: boolean;
  /** Why a handshake was refused or a connection dropped (never with the token). */
  log?: WsLog;
}

export const WS_DEFAULTS = Object.freeze({
  tokenSubprotocol: true,
  keepaliveMs: 30_000,
  maxPayload: 1024 * 1024,
  console: true,
});
