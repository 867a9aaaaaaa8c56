/**
 * TLS listeners (`tls:HOST:PORT`, node:tls) with client-certificate verification. Only a certificate
 * that verified against the configured CA is described in `Peer.certificate`; one that was presented
 * and did not verify ends the connection, so nothing downstream can mistake it for an identity.
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { ConnectionHandler, Listener, Peer } from './conn.ts';
import { AddressError } from './address.ts';
import { fromNetSocket, listenServer } from './tcp.ts';

/**
 * TLS material for `tls:` listeners (the same fields as the config file's "tls" section). Paths are
 * read when the listener opens.
 */
export interface TlsListenOptions {
  /** PEM certificate chain file of the listener. */
  cert: string;
  /** PEM private key file of the listener. */
  key: string;
  /**
   * PEM CA bundle that signs client certificates. When set, clients are asked for a certificate; one
   * that is presented and does not verify is refused, a verified one becomes `Peer.certificate`.
   */
  ca?: string;
  /** Refuse clients without a verified certificate in the handshake itself (needs `ca`). Default false. */
  requireClientCert?: boolean;
}

/** A handshake that has not finished by then is dropped (a peer cannot hold a socket open for free). */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

function readPem(listener: string, field: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new AddressError(`listener '${listener}': cannot read tls.${field} '${path}': ${(e as Error).message}`);
  }
}

export async function listenTls(
  address: string,
  host: string,
  port: number,
  onConn: ConnectionHandler,
  material: TlsListenOptions | undefined,
  onClientError?: (err: Error, peer: string) => void,
): Promise<Listener> {
  if (!material) throw new AddressError(`listener '${address}': a tls listener needs a certificate and key (the config file's "tls" section)`);
  if (material.requireClientCert && material.ca === undefined) throw new AddressError(`listener '${address}': requireClientCert needs a ca to verify client certificates with`);
  const ca = material.ca === undefined ? undefined : readPem(address, 'ca', material.ca);
  const server = tls.createServer({
    cert: readPem(address, 'cert', material.cert),
    key: readPem(address, 'key', material.key),
    ca,
    requestCert: ca !== undefined,
    // With requireClientCert OpenSSL refuses a missing or bad certificate in the handshake; without it
    // the handshake completes and a presented certificate that did not verify is refused below.
    rejectUnauthorized: material.requireClientCert === true,
    handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
    minVersion: 'TLSv1.2',
  });
  server.on('secureConnection', (sock) => {
    const presented = sock.getPeerX509Certificate() !== undefined;
    if (presented && !sock.authorized) {
      onClientError?.(new Error(`client certificate refused: ${String(sock.authorizationError)}`), peerAddress(sock));
      sock.destroy();
      return;
    }
    onConn(fromNetSocket(sock, tlsPeer(sock)));
  });
  server.on('tlsClientError', (err, sock) => {
    onClientError?.(err, peerAddress(sock));
    sock.destroy();
  });
  return listenServer(server, address, host, port);
}

function peerAddress(sock: tls.TLSSocket): string {
  const host = sock.remoteAddress ?? '?';
  return `${host.includes(':') ? `[${host}]` : host}:${sock.remotePort}`;
}

function tlsPeer(sock: tls.TLSSocket): Peer {
  const peer: Peer = { transport: 'tls', address: peerAddress(sock) };
  const x509 = sock.authorized ? sock.getPeerX509Certificate() : undefined;
  if (!x509) return peer;
  peer.certificate = {
    subject: formatSubject(x509.subject),
    subjectAltNames: parseSubjectAltNames(x509.subjectAltName),
    fingerprint256: x509.fingerprint256,
  };
  return peer;
}

/**
 * X509Certificate.subject is one `KEY=VALUE` per line, values escaped as RFC 2253 says (OpenSSL's
 * ESC_2253 | ESC_CTRL, so a value never holds a raw newline). Joined with commas in certificate order:
 * `C=DE,O=Example,CN=ops`. A comma inside a value stays escaped (`\,`).
 */
export function formatSubject(multiline: string): string {
  return multiline.split('\n').filter(Boolean).join(',');
}

/**
 * X509Certificate.subjectAltName: `DNS:a.example, IP Address:127.0.0.1, URI:spiffe://x/y`; Node quotes a
 * value (as a JSON string) when it holds a comma, quote or other special character. Returned as
 * `TYPE:value`, unquoted.
 */
export function parseSubjectAltNames(text: string | undefined): string[] {
  const out: string[] = [];
  if (!text) return out;
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let j = colon + 1;
    let value: string;
    if (text[j] === '"') {
      // A JSON string: find its end, skipping escaped characters.
      let k = j + 1;
      while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
      value = JSON.parse(text.slice(j, k + 1)) as string;
      j = k + 1;
    } else {
      const end = text.indexOf(', ', j);
      value = text.slice(j, end < 0 ? text.length : end);
      j = end < 0 ? text.length : end;
    }
    out.push(`${type}:${value}`);
    i = text.startsWith(', ', j) ? j + 2 : j;
  }
  return out;
}
