/**
 * The noisy neighbour of the fleet benchmark, in a process of its own (so its work does not share the
 * measuring process's event loop): `clients` negotiated clients on one VM's socket read every event,
 * and one more runs stop/cont as fast as QEMU answers (or with BENCH_NOISE_PAUSE_MS between cycles) until SIGTERM. Prints the cycles done, then exits.
 *   tsx fleet-noise.ts SOCKET CLIENTS
 */
import { LineClient } from './line-client.ts';

const [path, n] = [process.argv[2]!, Number(process.argv[3] ?? 50)];
const listeners: LineClient[] = [];
for (let i = 0; i < n; i++) {
  const c = await LineClient.open(path);
  c.drain(); // read and drop every event, cheaply: the noise is qmpmux's work, not this process's
  listeners.push(c);
}
const ctl = await LineClient.open(path);
let running = true;
let cycles = 0;
/** BENCH_NOISE_PAUSE_MS: a pause after each cycle (0: as fast as it goes), to see how the figure moves with the noise's rate. */
const pause = Number(process.env.BENCH_NOISE_PAUSE_MS ?? 0);
process.on('SIGTERM', () => (running = false));
process.stdout.write('ready\n');
while (running) {
  ctl.send('{"execute":"stop"}');
  while (!(await ctl.next()).includes('"return"'));
  ctl.send('{"execute":"cont"}');
  while (!(await ctl.next()).includes('"return"'));
  cycles++;
  if (pause) await new Promise((r) => setTimeout(r, pause));
}
process.stdout.write(`cycles ${cycles}\n`);
for (const c of [...listeners, ctl]) c.close();
process.exit(0);
