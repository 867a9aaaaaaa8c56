/** Open listeners and upstream connections by address. */
import { parseAddress, AddressError } from './address.ts';
import type { Conn, ConnectionHandler, Listener } from './conn.ts';
import { connectTcp, listenTcp } from './tcp.ts';
import { connectUnix, listenUnix } from './unix.ts';
import { listenWs } from './ws.ts';
import type { WsListenOptions } from './ws-options.ts';

export interface ListenOptions {
  /** File mode of a unix socket (default: umask). */
  unixMode?: number;
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
    case 'ws':
      return listenWs(text, a, onConn, opts.ws);
    default:
      throw new AddressError(`listener '${text}': ${a.kind} listeners are not available in this build`);
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
