/**
 * The client side of qmpmux's WebSocket listener (`ws://HOST:PORT/PATH`, `wss://…`) as a Conn, with the
 * `qmp.json` subprotocol: every frame carries exactly the bytes a socket client would see, and each
 * message the client writes goes as one text frame. A WebSocket cannot carry fds: any given are closed.
 */
import WebSocket, { type ClientOptions as WsOptions, type RawData } from 'ws';
import { closeFds, type Conn } from '@qmpmux/transports';

export interface WebSocketClientOptions {
  /** A bearer token, sent as `Authorization: Bearer TOKEN`. */
  token?: string;
  /** More handshake headers. */
  headers?: Record<string, string>;
  /** Passed to `ws` as is (TLS: ca, cert, key, rejectUnauthorized, servername; handshakeTimeout; …). */
  options?: Omit<WsOptions, 'headers'>;
}

/** The server refused the WebSocket handshake with an HTTP error. */
export class WebSocketHandshakeError extends Error {
  override readonly name = 'WebSocketHandshakeError';
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`WebSocket handshake refused: HTTP ${status}${body.trim() ? ` ${body.trim()}` : ''}`);
  }
}

export function isWebSocketAddress(address: string): boolean {
  return address.startsWith('ws://') || address.startsWith('wss://');
}

export function connectWebSocket(url: string, opts: WebSocketClientOptions = {}): Promise<Conn> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers.Authorization = `Bearer ${opts.token}`;
  const ws = new WebSocket(url, ['qmp.json'], { ...opts.options, headers });
  return new Promise<Conn>((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => reject(new WebSocketHandshakeError(res.statusCode ?? 0, body)));
      res.on('error', () => reject(new WebSocketHandshakeError(res.statusCode ?? 0, body)));
    });
    ws.once('error', reject);
    ws.once('open', () => {
      ws.off('error', reject);
      resolve(wrap(ws, url));
    });
  });
}

function wrap(ws: WebSocket, url: string): Conn {
  const held: Buffer[] = [];
  let started = false;
  let paused = false;
  let closed = false;
  const flowing = () => started && !paused && !closed;
  const flush = () => {
    while (held.length && flowing()) conn.onData(held.shift()!, []);
  };
  const noop = () => {};
  const conn: Conn = {
    peer: { transport: url.startsWith('wss:') ? 'wss' : 'ws', address: url },
    get writableLength() {
      return ws.bufferedAmount;
    },
    onData: noop,
    onClose: noop,
    onDrain: noop,
    start() {
      started = true;
      flush();
    },
    write(data, fds) {
      closeFds(fds); // a WebSocket cannot carry fds
      if (!closed && ws.readyState === WebSocket.OPEN) ws.send(data, { binary: false });
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      flush();
    },
    end: () => ws.close(1000),
    destroy: () => ws.terminate(),
  };
  ws.on('message', (data: RawData) => {
    if (closed) return;
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (flowing()) conn.onData(bytes, []);
    else held.push(bytes);
  });
  ws.on('error', () => {}); // followed by 'close'
  ws.on('close', (code: number) => {
    if (closed) return;
    closed = true;
    held.length = 0;
    conn.onClose(code === 1000 || code === 1005 ? undefined : new Error(`WebSocket closed with code ${code}`));
  });
  return conn;
}
