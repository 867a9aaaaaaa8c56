/**
 * Plain HTTP on a WebSocket listener: GET PATH serves the web console (console/index.html, one static
 * file, no build step); GET / redirects to PATH; anything else is 404 or 405. The page's inline script
 * and style are allowed by their hashes in a Content-Security-Policy that lets it load nothing else
 * and connect only to WebSockets.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { requestPath } from './ws-handshake.ts';

let page: { html: Buffer; csp: string } | undefined;

function loadPage(): { html: Buffer; csp: string } {
  if (page) return page;
  const html = readFileSync(new URL('../console/index.html', import.meta.url));
  const text = html.toString('utf8');
  const hashes = (tag: string) =>
    [...text.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => `'sha256-${createHash('sha256').update(m[1]!, 'utf8').digest('base64')}'`).join(' ');
  const csp = [
    "default-src 'none'",
    `script-src ${hashes('script')}`,
    `style-src ${hashes('style')}`,
    "connect-src 'self' ws: wss:",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return (page = { html, csp });
}

export function serveConsole(req: IncomingMessage, res: ServerResponse, path: string, enabled: boolean): void {
  const reqPath = requestPath(req.url);
  if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'only GET (the console) and WebSocket upgrades here', { Allow: 'GET, HEAD' });
  if (reqPath === path) {
    if (!enabled) return plain(res, 426, 'this is a QMP WebSocket endpoint (the web console is turned off)', { Upgrade: 'websocket' });
    const { html, csp } = loadPage();
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': html.length,
      'Content-Security-Policy': csp,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    });
    res.end(req.method === 'HEAD' ? undefined : html);
    return;
  }
  if (reqPath === '/' && enabled) {
    res.writeHead(302, { Location: path, 'Content-Length': 0 });
    res.end();
    return;
  }
  plain(res, 404, 'not found');
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const body = text + '\n';
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'X-Content-Type-Options': 'nosniff', ...headers });
  res.end(body);
}
