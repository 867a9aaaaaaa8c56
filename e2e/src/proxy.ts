/** Start qmpmux in this process, in front of a test QEMU, listening on a unix socket and a TCP port (and, when asked, a WebSocket). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Proxy, createLogger, type Limits, type Logger, type Observer, type OutputBudget, type PluginSpec } from '@qmpmux/core';
import type { TlsListenOptions, WsListenOptions } from '@qmpmux/transports';

export interface TestProxy {
  proxy: Proxy;
  /** The unix listener ('' with `unix: false`). */
  unix: string;
  tcp: string;
  /** The bound `ws://…`/`wss://…` address ('' without `ws`). */
  ws: string;
  stop(): Promise<void>;
}

export interface StartProxyOptions {
  /** The VM's name (default "default"). */
  name?: string;
  limits?: Partial<Limits>;
  plugins?: PluginSpec[];
  tcp?: boolean;
  /** Listen on a unix socket (default true). */
  unix?: boolean;
  /** Add a WebSocket listener: true for `ws://127.0.0.1:0/qmp`, or an address (`wss://127.0.0.1:0/x`). */
  ws?: boolean | string;
  websocket?: WsListenOptions;
  tls?: TlsListenOptions;
  /** More listeners (e.g. `tls:127.0.0.1:0`); find them in `proxy.listeners`. */
  listen?: string[];
  unixMode?: number;
  /** Default: stderr at QMPMUX_TEST_LOG's level, or 'error'. */
  log?: Logger;
  /** Metrics observer (packages/metrics). */
  observer?: Observer;
  /** Commands run through a private warm-up client before listening (ProxyOptions.warmUp). */
  warmUp?: number;
  /** A process-wide output budget shared with other proxies (default: the proxy's own). */
  outputBudget?: OutputBudget;
}

export async function startProxy(upstream: string, opts: StartProxyOptions = {}): Promise<TestProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'qmpmux-proxy-'));
  const unix = `unix:${join(dir, 'qmpmux.sock')}`;
  const listen = opts.unix === false ? [] : [unix];
  if (opts.tcp !== false) listen.push('tcp:127.0.0.1:0');
  if (opts.ws) listen.push(opts.ws === true ? 'ws://127.0.0.1:0/qmp' : opts.ws);
  listen.push(...(opts.listen ?? []));
  let proxy: Proxy;
  try {
    proxy = await Proxy.create({
      name: opts.name,
      upstream,
      listen,
      limits: opts.limits,
      plugins: opts.plugins,
      websocket: opts.websocket,
      tls: opts.tls,
      unixMode: opts.unixMode,
      observer: opts.observer,
      warmUp: opts.warmUp,
      outputBudget: opts.outputBudget,
      log: opts.log ?? createLogger('qmpmux', (process.env.QMPMUX_TEST_LOG as never) ?? 'error'),
    });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  await proxy.start();
  await waitReady(proxy);
  const tcp = proxy.listeners.find((l) => l.bound.startsWith('tcp:'))?.bound ?? '';
  const ws = proxy.listeners.find((l) => /^wss?:/.test(l.bound))?.bound ?? '';
  return {
    proxy,
    unix: opts.unix === false ? '' : unix,
    tcp,
    ws,
    async stop() {
      await proxy.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function waitReady(proxy: Proxy, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('qmpmux did not connect to QEMU in time')), ms);
    const sub = proxy.link.state$.subscribe((s) => {
      if (s === 'ready') {
        clearTimeout(t);
        queueMicrotask(() => sub.unsubscribe());
        resolve();
      }
    });
  });
}
