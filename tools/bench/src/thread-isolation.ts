/**
 * Does a VM on a thread of its own escape its noisy neighbour? The measurement behind the worker-pool
 * design (docs/fleet.md, Figures). Two QEMUs; one host process (thread-host.ts) with vm1's Proxy in its
 * main thread and vm2's in the same thread (`shared`) or in a worker thread (`worker`); vm2 in a
 * stop/cont loop as fast as it goes with events to BENCH_NOISY clients (fleet-noise.ts, its own
 * process); vm1's query-status p50/p99, quiet and under the noise, in both modes, alternating
 * BENCH_ROUNDS times. Not a test: `npx tsx tools/bench/src/thread-isolation.ts`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { until } from '@qmpmux/e2e';
import { env } from './env.ts';
import { LineClient, pct } from './line-client.ts';

const N = env('BENCH_N', 3000);
const NOISY = env('BENCH_NOISY', 50);
const ROUNDS = env('BENCH_ROUNDS', 3);
const dir = mkdtempSync(join(tmpdir(), 'qmpmux-threads-'));
const children: ChildProcess[] = [];
const qmp = (i: number) => join(dir, `vm${i}.qmp`);

async function latency(path: string, warmup: number): Promise<{ p50: number; p99: number }> {
  const c = await LineClient.open(path);
  const t: number[] = [];
  for (let i = 0; i < warmup + N; i++) {
    const t0 = process.hrtime.bigint();
    c.send(`{"execute":"query-status","id":${i % 10}}`);
    await c.next();
    if (i >= warmup) t.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  c.close();
  t.sort((a, b) => a - b);
  return { p50: pct(t, 50), p99: pct(t, 99) };
}

async function round(mode: 'shared' | 'worker', k: number): Promise<string> {
  const s1 = join(dir, `${mode}${k}-vm1.sock`);
  const s2 = join(dir, `${mode}${k}-vm2.sock`);
  const host = spawn(process.execPath, [...process.execArgv, join(import.meta.dirname, 'thread-host.ts'), mode, qmp(1), s1, qmp(2), s2], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(host);
  let out = '';
  host.stdout!.on('data', (d) => (out += d));
  await until(() => out.includes('ready'), 'host ready', 30_000);
  const quiet = await latency(s1, 3000);
  const noise = spawn(process.execPath, [...process.execArgv, join(import.meta.dirname, 'fleet-noise.ts'), s2, String(NOISY)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(noise);
  let nout = '';
  noise.stdout!.on('data', (d) => (nout += d));
  await until(() => nout.includes('ready'), 'noise ready', 30_000);
  await sleep(500);
  const t0 = Date.now();
  const noisy = await latency(s1, 0);
  noise.kill('SIGTERM');
  await until(() => nout.includes('cycles'), 'noise stopped', 30_000);
  const rate = Number(/cycles (\d+)/.exec(nout)![1]) / ((Date.now() - t0 + 500) / 1000);
  host.kill('SIGTERM');
  await new Promise((r) => host.once('exit', r));
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  return `${mode.padEnd(6)} quiet p50 ${quiet.p50.toFixed(0)} p99 ${quiet.p99.toFixed(0)} µs | noisy p50 ${noisy.p50.toFixed(0)} p99 ${noisy.p99.toFixed(0)} µs (vm2 ~${rate.toFixed(0)} cycles/s) | ratio p50 ${x(noisy.p50, quiet.p50)} p99 ${x(noisy.p99, quiet.p99)}`;
}

try {
  for (const i of [1, 2]) children.push(spawn('qemu-system-x86_64', ['-M', 'none', '-display', 'none', '-nodefaults', '-name', `vm${i}`, '-qmp', `unix:${qmp(i)},server=on,wait=off`], { stdio: 'ignore' }));
  await until(() => existsSync(qmp(1)) && existsSync(qmp(2)), 'QEMUs', 30_000);
  console.log(`thread isolation — N=${N}, noisy clients ${NOISY}, ${ROUNDS} rounds (vm1's p50/p99 under vm2's stop/cont loop, against itself quiet; target p99 ≤ 1.5x)`);
  for (let k = 0; k < ROUNDS; k++) for (const mode of ['shared', 'worker'] as const) console.log(await round(mode, k));
} finally {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await sleep(200);
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
