/**
 * The checks made on a WebSocket upgrade request before any WebSocket exists: path, Origin, bearer
 * token (Authorization header or a `qmp.token.<base64url>` subprotocol entry) and the subprotocol that
 * decides the framing. Pure functions of the request's URL and headers, tested without sockets.
 * Refusal reasons never contain the token.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { QMP_JSON, QMP_MSGPACK, TOKEN_PREFIX, type WsMode } from './ws-options.ts';

export type Handshake =
  | { ok: true; mode: WsMode; /** The subprotocol to echo; undefined when the client offered none we speak. */ protocol: string | undefined; token: string | undefined }
  | { ok: false; status: 400 | 403 | 404; reason: string };

export interface HandshakeRules {
  /** The listener's path; other paths get 404. */
  path: string;
  /** wss: (pages served by it are https:). */
  secure: boolean;
  origins: readonly string[] | undefined;
  tokenSubprotocol: boolean;
}

export function checkHandshake(url: string | undefined, headers: IncomingHttpHeaders, rules: HandshakeRules): Handshake {
  if (requestPath(url) !== rules.path) return { ok: false, status: 404, reason: 'no WebSocket endpoint at this path' };
  if (!originAllowed(headers.origin, headers.host, rules.origins, rules.secure)) return { ok: false, status: 403, reason: 'origin not allowed' };
  const offered = splitProtocols(headers['sec-websocket-protocol']);
  let token: string | undefined;
  const auth = headers.authorization;
  if (auth !== undefined && /^bearer(\s|$)/i.test(auth)) {
    const m = /^bearer\s+([^\s]+)\s*$/i.exec(auth);
    if (!m) return { ok: false, status: 400, reason: 'malformed Authorization header (expected "Bearer TOKEN")' };
    token = m[1]!;
  }
  const tokenEntries = offered.filter((p) => p.startsWith(TOKEN_PREFIX));
  if (rules.tokenSubprotocol && tokenEntries.length) {
    if (tokenEntries.length > 1) return { ok: false, status: 400, reason: 'more than one token subprotocol entry' };
    const fromProtocol = decodeTokenEntry(tokenEntries[0]!);
    if (fromProtocol === undefined) return { ok: false, status: 400, reason: 'token subprotocol entry is not non-empty base64url of UTF-8' };
    if (token !== undefined && token !== fromProtocol) return { ok: false, status: 400, reason: 'two different tokens (Authorization header and subprotocol)' };
    token = fromProtocol;
  }
  // The client's order is its preference (RFC 6455 §4.2.2); a token entry is never selected.
  const protocol = offered.find((p) => p === QMP_JSON || p === QMP_MSGPACK);
  return { ok: true, mode: protocol === QMP_MSGPACK ? 'msgpack' : 'json', protocol, token };
}

export function requestPath(url: string | undefined): string {
  try {
    return new URL(url ?? '/', 'http://x').pathname;
  } catch {
    return '';
  }
}

/**
 * No Origin header: a non-browser client, allowed. `*` allows any; a list allows exactly its
 * origins; no list allows a page served by this very listener (Origin equals http[s]://Host).
 */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[] | undefined, secure: boolean): boolean {
  if (origin === undefined) return true;
  if (allowed) return allowed.includes('*') || allowed.includes(normalizeOrigin(origin) ?? origin);
  if (!host) return false;
  try {
    return normalizeOrigin(origin) === new URL(`${secure ? 'https' : 'http'}://${host}`).origin;
  } catch {
    return false;
  }
}

/** `scheme://host[:port]` as a browser sends it (lowercase host, default port dropped); undefined if it is no such thing. */
export function normalizeOrigin(text: string): string | undefined {
  if (text === 'null') return 'null';
  try {
    const u = new URL(text);
    if (u.origin === 'null' || u.pathname.length > 1 || u.search || u.hash || u.username || u.password) return undefined;
    return u.origin;
  } catch {
    return undefined;
  }
}

function splitProtocols(header: string | undefined): string[] {
  if (!header) return [];
  return header
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

/** `qmp.token.<base64url>` → the token, or undefined when it is not clean base64url of UTF-8. */
export function decodeTokenEntry(entry: string): string | undefined {
  const b64 = entry.slice(TOKEN_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(b64) || b64.length % 4 === 1) return undefined;
  const bytes = Buffer.from(b64, 'base64url');
  const token = bytes.toString('utf8');
  if (token === '' || !Buffer.from(token, 'utf8').equals(bytes)) return undefined;
  return token;
}

/** The subprotocol entry a client offers to carry `token`. */
export function encodeTokenEntry(token: string): string {
  return TOKEN_PREFIX + Buffer.from(token, 'utf8').toString('base64url');
}
