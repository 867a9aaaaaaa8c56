/**
 * `ws://HOST:PORT/PATH` and `wss://…` listeners (the `ws` package on a node:http / node:https server).
 * An upgrade on PATH that passes the handshake checks (ws-handshake.ts) becomes a `Conn`
 * (ws-conn.ts); a plain GET of PATH serves the web console (console-page.ts). `wss://` uses the same
 * TLS material as `tls:` listeners: a client certificate that was presented and did not verify ends
 * the connection, a verified one becomes `Peer.certificate`.
 * Per-message compression is off: QMP messages are small, and inflating is a memory risk.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { WebSocketServer } from 'ws';
import { AddressError } from './address.ts';
import type { ConnectionHandler, Listener, Peer } from './conn.ts';
import { serveConsole } from './console-page.ts';
import { formatSubject, parseSubjectAltNames, TLS_HANDSHAKE_TIMEOUT_MS, type TlsListenOptions } from './tls.ts';
import { fromWebSocket } from './ws-conn.ts';
import { checkHandshake, type Handshake } from './ws-handshake.ts';
import { WS_DEFAULTS, type WsListenOptions } from './ws-options.ts';

export interface WsAddress {
  secure: boolean;
  host: string;
  port: number;
  path: string;
}

/** HTTP requests (console, handshake) must have sent their headers by then. */
const HTTP_HEADERS_TIMEOUT_MS = 10_000;

export async function listenWs(
  address: string,
  a: WsAddress,
  onConn: ConnectionHandler,
  opts: WsListenOptions = {},
  material?: TlsListenOptions,
  onClientError?: (err: Error, peer: string) => void,
): Promise<Listener> {
  const log = opts.log;
  const keepaliveMs = opts.keepaliveMs ?? WS_DEFAULTS.keepaliveMs;
  const keepaliveTimeoutMs = opts.keepaliveTimeoutMs ?? keepaliveMs;
  const rules = { path: a.path, secure: a.secure, origins: opts.origins, tokenSubprotocol: opts.tokenSubprotocol ?? WS_DEFAULTS.tokenSubprotocol };
  const server = a.secure ? httpsServer(address, material, onClientError) : http.createServer();
  server.headersTimeout = server.requestTimeout = HTTP_HEADERS_TIMEOUT_MS;

  const accepted = new WeakMap<http.IncomingMessage, Extract<Handshake, { ok: true }>>();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxPayload ?? WS_DEFAULTS.maxPayload,
    perMessageDeflate: false,
    clientTracking: false,
    // Only ever qmp.json or qmp.msgpack: a token entry is never echoed back.
    handleProtocols: (_offered, req) => accepted.get(req)?.protocol ?? false,
  });

  server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => {}); // a reset during the handshake is nobody's business
    const hs = checkHandshake(req.url, req.headers, rules);
    if (!hs.ok) {
      onClientError?.(new Error(`WebSocket handshake refused (${hs.status}): ${hs.reason}`), peerAddress(socket));
      return refuseUpgrade(socket, hs.status, hs.reason);
    }
    accepted.set(req, hs);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const peer: Peer = { transport: a.secure ? 'wss' : 'ws', address: peerAddress(socket) };
      if (hs.token !== undefined) peer.token = hs.token;
      const certificate = a.secure ? verifiedCertificate(socket as TLSSocket) : undefined;
      if (certificate) peer.certificate = certificate;
      onConn(fromWebSocket(ws, socket, peer, { mode: hs.mode, keepaliveMs, keepaliveTimeoutMs, log }));
    });
  });
  server.on('request', (req, res) => serveConsole(req, res, a.path, opts.console ?? WS_DEFAULTS.console));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(a.port, a.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as import('node:net').AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    address,
    bound: `${a.secure ? 'wss' : 'ws'}://${host}:${bound.port}${a.path}`,
    // Stop accepting now; open WebSockets are closed by their owners (the proxy closes its sessions).
    close: async () => {
      server.close();
      server.closeIdleConnections();
    },
  };
}

function httpsServer(address: string, material: TlsListenOptions | undefined, onClientError?: (err: Error, peer: string) => void): https.Server {
  if (!material) throw new AddressError(`listener '${address}': a wss listener needs a certificate and key (the config file's "tls" section)`);
  if (material.requireClientCert && material.ca === undefined) throw new AddressError(`listener '${address}': requireClientCert needs a ca to verify client certificates with`);
  const pem = (field: 'cert' | 'key' | 'ca', path: string) => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new AddressError(`listener '${address}': cannot read tls.${field} '${path}': ${(e as Error).message}`);
    }
  };
  const ca = material.ca === undefined ? undefined : pem('ca', material.ca);
  const server = https.createServer({
    cert: pem('cert', material.cert),
    key: pem('key', material.key),
    ca,
    requestCert: ca !== undefined,
    rejectUnauthorized: material.requireClientCert === true,
    handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
    minVersion: 'TLSv1.2',
  });
  // As for tls: listeners, a presented certificate that did not verify is never taken for an identity.
  server.on('secureConnection', (sock: TLSSocket) => {
    if (sock.getPeerX509Certificate() === undefined || sock.authorized) return;
    onClientError?.(new Error(`client certificate refused: ${String(sock.authorizationError)}`), peerAddress(sock));
    sock.destroy();
  });
  server.on('tlsClientError', (err, sock) => {
    onClientError?.(err, peerAddress(sock));
    sock.destroy();
  });
  return server;
}

function verifiedCertificate(sock: TLSSocket): Peer['certificate'] {
  const x509 = sock.authorized ? sock.getPeerX509Certificate() : undefined;
  if (!x509) return undefined;
  return { subject: formatSubject(x509.subject), subjectAltNames: parseSubjectAltNames(x509.subjectAltName), fingerprint256: x509.fingerprint256 };
}

function refuseUpgrade(socket: Socket, status: number, reason: string): void {
  const body = `${reason}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function peerAddress(sock: Socket): string {
  const host = sock.remoteAddress ?? '?';
  return `${host.includes(':') ? `[${host}]` : host}:${sock.remotePort}`;
}
