/**
 * The qmpmux side of the slow-client memory benchmark (slow-clients.ts): a Proxy in this process, in
 * front of the given QEMU, answering the parent's `measure` and `gc` messages with its RSS, heap, Buffers
 * and what its clients' output queues count. Started by slow-clients.ts with --expose-gc.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { startProxy } from '@qmpmux/e2e';

const [upstream] = process.argv.slice(2);
// No plugins: they do not touch the output queues.
const p = await startProxy(upstream!, { ws: true });

function rss(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m![1]) * 1024;
}

function measure() {
  const mu = process.memoryUsage();
  return { rss: rss(), heapUsed: mu.heapUsed, external: mu.external, arrayBuffers: mu.arrayBuffers, counted: p.proxy.outputBudget.total, clients: p.proxy.clients.size };
}

/** A full GC, twice: V8 frees Buffers' memory after a GC, concurrently; the second waits for the first's. */
async function collect(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  gc();
  await sleep(100);
  gc();
}

process.on('message', async (m: { op: string }) => {
  if (m.op === 'gc') await collect();
  if (m.op === 'measure' || m.op === 'gc') process.send!({ op: 'measured', ...measure() });
  else if (m.op === 'stop') void p.stop().then(() => process.exit(0));
});
process.send!({ op: 'ready', unix: p.unix, tcp: p.tcp, ws: p.ws });
