/**
 * The HTTP endpoint: GET /metrics (Prometheus text), /healthz (the process answers), /readyz (200 when
 * every VM's upstream is ready, else 503 with JSON naming those that are not). Anything else: 404.
 */
import { createServer, type Server } from 'node:http';
import type { Proxy } from '@qmpmux/core';

/** A VM whose upstream is not ready, as /readyz names it. */
export interface NotReady {
  vm: string;
  state: string;
  error: string;
}

/** What /metrics serves: a MetricsRegistry, or the merge of several (VMs in threads). */
export interface MetricsSource {
  text(): Promise<string>;
  readonly contentType: string;
}

export interface HttpOptions {
  /** HOST:PORT (port 0 picks one). */
  address: string;
  /** The VMs whose QEMU link is not ready, asked at every /readyz (a fleet may change): notReadyOf(proxies), or the VM threads'. */
  notReady: () => NotReady[] | Promise<NotReady[]>;
  /** True while the process is still starting its VMs: /readyz answers 503 `{"ready": false, "starting": true}`. */
  starting?: () => boolean;
  metrics: MetricsSource;
}

/** The VMs of these proxies whose upstream is not ready. */
export function notReadyOf(proxies: Iterable<Proxy>): NotReady[] {
  const out: NotReady[] = [];
  for (const p of proxies) if (p.link.state !== 'ready') out.push({ vm: p.name, state: p.link.state, error: p.link.lastError });
  return out;
}

export interface HttpEndpoint {
  /** HOST:PORT actually bound. */
  readonly bound: string;
  close(): Promise<void>;
}

export function parseHostPort(address: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(address);
  if (!m || Number(m[2]) > 65535) throw new Error(`not HOST:PORT: ${JSON.stringify(address)}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

export async function startHttp(opts: HttpOptions): Promise<HttpEndpoint> {
  const { host, port } = parseHostPort(opts.address);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      opts.metrics.text().then(
        (t) => res.writeHead(200, { 'content-type': opts.metrics.contentType }).end(t),
        (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      if (opts.starting?.()) return void res.writeHead(503, { 'content-type': 'application/json' }).end('{"ready": false, "starting": true}\n');
      const answer = (notReady: NotReady[]) => {
        if (notReady.length) res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ ready: false, notReady }) + '\n');
        else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ready": true}\n');
      };
      Promise.resolve()
        .then(opts.notReady)
        .then(answer, (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.maxConnections = 64;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address();
  const bound = typeof a === 'object' && a ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : opts.address;
  return {
    bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
