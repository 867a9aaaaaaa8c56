/** Listen/upstream addresses: `unix:PATH`, `tcp:HOST:PORT` (and, for listeners, `tls:HOST:PORT`, `ws://…`, `wss://…`). */
export type Address =
  | { kind: 'unix'; path: string; text: string }
  | { kind: 'tcp'; host: string; port: number; text: string }
  | { kind: 'tls'; host: string; port: number; text: string }
  | { kind: 'ws'; secure: boolean; host: string; port: number; path: string; text: string };

export class AddressError extends Error {
  readonly code = 'QMPMUX_BAD_ADDRESS';
}

function hostPort(rest: string, text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(rest);
  if (!m) throw new AddressError(`bad address '${text}': expected HOST:PORT`);
  const port = Number(m[3]);
  if (port > 65535) throw new AddressError(`bad address '${text}': port out of range`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

export function parseAddress(text: string): Address {
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    if (!path) throw new AddressError(`bad address '${text}': empty path`);
    return { kind: 'unix', path, text };
  }
  if (text.startsWith('tcp:')) return { kind: 'tcp', ...hostPort(text.slice(4), text), text };
  if (text.startsWith('tls:')) return { kind: 'tls', ...hostPort(text.slice(4), text), text };
  if (text.startsWith('ws://') || text.startsWith('wss://')) {
    const u = new URL(text);
    const secure = u.protocol === 'wss:';
    return {
      kind: 'ws',
      secure,
      host: u.hostname.replace(/^\[|\]$/g, ''),
      port: Number(u.port || (secure ? 443 : 80)),
      path: u.pathname || '/',
      text,
    };
  }
  throw new AddressError(`bad address '${text}': expected unix:PATH, tcp:HOST:PORT, tls:HOST:PORT, ws://HOST:PORT/PATH or wss://…`);
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
