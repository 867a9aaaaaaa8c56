/** Open listeners and upstream connections by address. */
import { parseAddress, AddressError } from './address.ts';
import type { Conn, ConnectionHandler, Listener } from './conn.ts';
import { connectTcp, listenTcp } from './tcp.ts';
import { listenTls, type TlsListenOptions } from './tls.ts';
import { connectUnix, listenUnix } from './unix.ts';
import { listenWs } from './ws.ts';
import type { WsListenOptions } from './ws-options.ts';

export interface ListenOptions {
  /** File mode of a unix socket (default: umask). */
  unixMode?: number;
  /** Certificate, key and client-CA paths for `tls:` listeners (required by them). */
  tls?: TlsListenOptions;
  /** A connection that failed before it became a Conn (e.g. a TLS handshake refused): for logging. */
  onClientError?: (err: Error, peer: string) => void;
  /** Origins, token subprotocol, keepalive, payload limit and console of `ws://`/`wss://` listeners (`wss://` takes `tls` too). */
  ws?: WsListenOptions;
}

export async function listen(text: string, onConn: ConnectionHandler, opts: ListenOptions = {}): Promise<Listener> {
  const a = parseAddress(text);
  switch (a.kind) {
    case 'unix':
      return listenUnix(text, a.path, onConn, opts.unixMode);
    case 'tcp':
      return listenTcp(text, a.host, a.port, onConn);
    case 'tls':
      return listenTls(text, a.host, a.port, onConn, opts.tls, opts.onClientError);
    case 'ws':
      return listenWs(text, a, onConn, opts.ws, opts.tls, opts.onClientError);
  }
}

export async function connect(text: string): Promise<Conn> {
  const a = parseAddress(text);
  switch (a.kind) {
    case 'unix':
      return connectUnix(a.path);
    case 'tcp':
      return connectTcp(a.host, a.port);
    default:
      throw new AddressError(`upstream '${text}': expected unix:PATH or tcp:HOST:PORT`);
  }
}
