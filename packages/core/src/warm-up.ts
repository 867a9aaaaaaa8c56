/**
 * Warm the hot path before the first client: a loopback client (an in-process Conn, no socket) runs
 * commands through the real Session → dispatcher → QEMU → splice path, and event lines through the
 * upstream classifier, so V8 has compiled and optimised them before anyone measures a latency.
 * Without this, the first few thousand commands after start carry a tail (docs/operations.md).
 *
 * Only side-effect-free commands are used (query-status, query-name, query-version: the cached path),
 * no plugin sees them, and nothing is counted in metrics.
 */
import type { Conn } from '@qmpmux/transports';
import { classifyLine } from './upstream-message.ts';
import type { Proxy } from './proxy.ts';

const COMMANDS = ['query-status', 'query-status', 'query-status', 'query-name', 'query-version'];
const EVENT = Buffer.from('{"timestamp": {"seconds": 1700000000, "microseconds": 1}, "event": "STOP"}');

/** Wait (bounded by upstreamWaitMs) for QEMU, then run `n` commands one after another; never throws. */
export async function warmUp(proxy: Proxy, n: number): Promise<void> {
  const link = proxy.link;
  if (link.state !== 'ready') {
    const ready = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => done(false), proxy.limits.upstreamWaitMs);
      const sub = link.state$.subscribe((s) => {
        if (s === 'ready') done(true);
        if (s === 'closed') done(false);
      });
      function done(v: boolean) {
        clearTimeout(t);
        queueMicrotask(() => sub.unsubscribe());
        resolve(v);
      }
    });
    if (!ready) return proxy.log.warn('warm-up skipped: QEMU is not ready');
  }
  const started = process.hrtime.bigint();
  let onLine: (() => void) | undefined;
  let closed = false;
  const conn: Conn = {
    peer: { transport: 'unix', address: 'warm-up' },
    writableLength: 0,
    onData: () => {},
    onClose: () => {},
    onDrain: () => {},
    start() {},
    write() {
      onLine?.();
    },
    pause() {},
    resume() {},
    end() {
      closed = true;
      onLine?.();
    },
    destroy() {
      closed = true;
      onLine?.();
    },
  };
  const session = proxy.loopbackSession(conn);
  session.start();
  session.greet(link.greeting!);
  const exchange = (text: string) =>
    new Promise<void>((resolve) => {
      onLine = resolve;
      conn.onData(Buffer.from(text, 'latin1'), []);
    });
  await exchange('{"execute": "qmp_capabilities"}');
  for (let i = 0; i < n && !closed && link.state === 'ready'; i++) {
    await exchange(`{"execute": "${COMMANDS[i % COMMANDS.length]}", "id": ${i}}`);
    if (i % 8 === 0) classifyLine(EVENT);
  }
  session.close('warm-up done');
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  proxy.log.info(`warm-up: ${n} commands in ${ms.toFixed(0)} ms`);
}
