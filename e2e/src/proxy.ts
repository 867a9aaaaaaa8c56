/** Start qmpmux in this process, in front of a test QEMU, listening on a unix socket and a TCP port. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Proxy, createLogger, type Limits, type PluginSpec } from '@qmpmux/core';

export interface TestProxy {
  proxy: Proxy;
  unix: string;
  tcp: string;
  stop(): Promise<void>;
}

export async function startProxy(upstream: string, opts: { limits?: Partial<Limits>; plugins?: PluginSpec[]; tcp?: boolean } = {}): Promise<TestProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'qmpmux-proxy-'));
  const unix = `unix:${join(dir, 'qmpmux.sock')}`;
  const listen = [unix];
  if (opts.tcp !== false) listen.push('tcp:127.0.0.1:0');
  const proxy = await Proxy.create({
    upstream,
    listen,
    limits: opts.limits,
    plugins: opts.plugins,
    log: createLogger('qmpmux', (process.env.QMPMUX_TEST_LOG as never) ?? 'error'),
  });
  await proxy.start();
  await waitReady(proxy);
  const tcp = proxy.listeners.find((l) => l.bound.startsWith('tcp:'))?.bound ?? '';
  return {
    proxy,
    unix,
    tcp,
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
