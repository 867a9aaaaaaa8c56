/**
 * Memory under stalled clients: what qmpmux holds against what its output budget counts.
 * Stalled clients never read; they pipeline commands (query-qmp-schema, ~200 KB a reply), or are sent
 * events (a reading client runs stop/cont). Each scenario runs in a fresh qmpmux process; printed:
 * the count (OutputBudget.total, the sum of the clients' writableLength), RSS growth (which also holds
 * garbage and heap V8 has not given back), and, after a full GC, the growth of heap + Buffers — what
 * the queues really hold. Over TCP and WebSocket most of the output waits in the kernel (loopback
 * buffers take megabytes), which is not qmpmux's memory and not counted.
 * Run: `npm run bench:memory -w @qmpmux/bench`. Environment: SLOW_CLIENTS (4), SLOW_SCHEMAS (22),
 * SLOW_EVENTS (20000 stop/cont rounds), SLOW_TRANSPORTS (unix,tcp,ws).
 */
import { fork } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startQemu, RawClient, WsClient } from '@qmpmux/e2e';

const K = Number(process.env.SLOW_CLIENTS ?? 4);
const SCHEMAS = Number(process.env.SLOW_SCHEMAS ?? 22);
const EVENTS = Number(process.env.SLOW_EVENTS ?? 20000);
const TRANSPORTS = (process.env.SLOW_TRANSPORTS ?? 'unix,tcp,ws').split(',');
const MiB = 1024 * 1024;

interface Figures { rss: number; heapUsed: number; external: number; arrayBuffers: number; counted: number; clients: number }

const qemu = await startQemu();
const hostFile = fileURLToPath(new URL('./memory-host.ts', import.meta.url));

/** A fresh qmpmux (in a child process, so its RSS is its own) for one scenario. */
async function startHost() {
  const host = fork(hostFile, [qemu.address], { execArgv: ['--import', 'tsx', '--expose-gc'], stdio: 'inherit' });
  const waiting: ((m: any) => void)[] = [];
  host.on('message', (m) => waiting.shift()?.(m));
  const exited = new Promise<number | null>((r) => host.once('exit', r));
  const next = () => Promise.race([new Promise<any>((r) => waiting.push(r)), exited.then((code) => Promise.reject(new Error(`the qmpmux host exited with ${code}`)))]);
  const addrs = (await next()) as { unix: string; tcp: string; ws: string };
  return {
    addrs,
    measure: async (op: 'measure' | 'gc'): Promise<Figures> => (host.send({ op }), next()),
    stop: async () => {
      host.send({ op: 'stop' });
      await exited;
    },
  };
}
type Host = Awaited<ReturnType<typeof startHost>>;

/** Wait until the queues stop growing (the stalled clients' kernel buffers are full). */
async function settled(host: Host): Promise<Figures> {
  let last = -1;
  let same = 0;
  for (;;) {
    await sleep(200);
    const f = await host.measure('measure');
    same = f.counted === last ? same + 1 : 0;
    last = f.counted;
    if (same >= 4) return f;
  }
}

/** A client that sends `text` and then never reads. Returns its closer. */
async function stalled(addrs: Host['addrs'], transport: string, text: string): Promise<() => void> {
  if (transport === 'ws') {
    const c = await WsClient.connect(addrs.ws, { protocols: ['qmp.json'] });
    c.ws.pause();
    c.send(text);
    return () => c.ws.terminate();
  }
  const sock = transport === 'unix' ? net.connect(addrs.unix.slice(5)) : net.connect(Number(addrs.tcp.split(':').pop()), '127.0.0.1');
  await new Promise((r, j) => sock.once('connect', r).once('error', j));
  sock.pause();
  sock.write(text);
  return () => sock.destroy();
}

const mb = (n: number) => (n / MiB).toFixed(1);
const held = (f: Figures) => f.heapUsed + f.arrayBuffers;
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x counted` : 'nothing counted');
function report(label: string, base: Figures, f: Figures, g: Figures): void {
  console.log(
    `${label.padEnd(12)} counted ${mb(f.counted).padStart(5)} MiB | RSS +${mb(f.rss - base.rss)} MiB (${ratio(f.rss - base.rss, f.counted)}) | ` +
      `after a full GC: held (heap + Buffers) +${mb(held(g) - held(base))} MiB (${ratio(held(g) - held(base), g.counted)}) = heap +${mb(g.heapUsed - base.heapUsed)} + Buffers +${mb(g.arrayBuffers - base.arrayBuffers)}`,
  );
}

async function scenario(label: string, transport: string, run: (open: (text: string) => Promise<void>, host: Host) => Promise<void>): Promise<void> {
  const host = await startHost();
  const closers: (() => void)[] = [];
  try {
    // The query cache keeps one query-qmp-schema answer: fill it before the baseline.
    const warm = await RawClient.connect(host.addrs.unix);
    warm.send('{"execute":"qmp_capabilities"}{"execute":"query-qmp-schema"}');
    await warm.count(3);
    warm.close();
    const base = await host.measure('gc');
    await run(async (text) => void closers.push(await stalled(host.addrs, transport, text)), host);
    const f = await settled(host);
    const g = await host.measure('gc');
    report(`${label} ${transport}`, base, f, g);
  } finally {
    for (const c of closers) c();
    await host.stop();
  }
}

try {
  console.log(`slow clients: ${K} stalled clients; query-qmp-schema ×${SCHEMAS} each; ${EVENTS} stop/cont rounds (events to the stalled clients)`);
  for (const t of TRANSPORTS) {
    await scenario('schema', t, async (open) => {
      const cmds = '{"execute":"qmp_capabilities"}' + '{"execute":"query-qmp-schema","id":1}'.repeat(SCHEMAS);
      for (let i = 0; i < K; i++) await open(cmds);
    });
    await scenario('events', t, async (open, host) => {
      for (let i = 0; i < K; i++) await open('{"execute":"qmp_capabilities"}');
      await sleep(100);
      const ctl = await RawClient.connect(host.addrs.unix);
      await ctl.count(1);
      ctl.send('{"execute":"qmp_capabilities"}');
      await ctl.count(2);
      for (let i = 0; i < EVENTS; i += 100) {
        ctl.messages.length = 0;
        ctl.received = '';
        ctl.send('{"execute":"stop"}{"execute":"cont"}'.repeat(50));
        await ctl.until(() => ctl.messages.filter((m) => 'return' in (m.value as object)).length >= 100, 30_000);
      }
      ctl.close();
    });
  }
} finally {
  await qemu.stop();
}
