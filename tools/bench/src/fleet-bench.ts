/**
 * Many VMs in one qmpmux process (issue 12 §3), printed as absolutes and ratios in one run. qmpmux runs
 * as its own process (the CLI, `serve --config` in the fleet form); its RSS and fds are read from /proc.
 *   (1) RSS growth per idle VM (one negotiated client each): 1 VM, then BENCH_VMS (SIGHUP adds them)
 *   (2) p50/p99 query-status round trip on one VM: alone, then with the others idle-with-client;
 *       cold (a fresh qmpmux started without its warm-up) and warm (after BENCH_WARMUP commands)
 *   (3) noisy neighbour: one VM in a stop/cont loop as fast as it goes, events to BENCH_NOISY clients
 *       (another process): the measured VM's p99 against (2); for comparison, vm1's own direct monitor and
 *       a bare byte relay in front of a third one, each under the same noise and quiet (with threads,
 *       also the VM that shares the noisy VM's thread); BENCH_NOISE_PAUSE_MS pauses the loop
 *       after each cycle, to see how the figure moves with the noise's rate
 *   (4) churn: every VM in a (connect, negotiate, 10 commands, leave) loop for BENCH_CHURN_S seconds
 *       (after BENCH_CHURN_WARM_S seconds of the same loop): qmpmux's fd count, RSS and heap at the
 *       start and the end
 *   (5) BENCH_IDLE_CLIENTS idle negotiated clients on one VM: RSS per client
 *   (6) fan-out: STOP reaching the last of BENCH_FANOUT negotiated clients, median of BENCH_FANOUT_RUNS
 * The bench raises its own fd limit (re-running itself under `prlimit --nofile=N:N`) when the soft
 * limit is below what the clients need; qmpmux inherits it.
 * Memory is read after a full GC (gc-on-signal.cjs preloaded into qmpmux), so it compares live data;
 * with threads, every thread collects and the heap figure is all threads' heaps.
 * BENCH_THREADS: the config's "threads" (1: every VM in qmpmux's main thread; more: that many worker
 * threads); unset, the config has none, so qmpmux runs its default (one thread per core, at most 4).
 * Not a test: `npm run bench:fleet`. A quick smoke run (< 1 min):
 *   BENCH_VMS=10 BENCH_N=300 BENCH_WARMUP=300 BENCH_NOISY=10 BENCH_CHURN_S=5 BENCH_IDLE_CLIENTS=500 BENCH_FANOUT=100 BENCH_FANOUT_RUNS=5 npm run bench:fleet
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { threadsOf } from '@qmpmux/core';
import { spawnQmpmux, until, type QmpmuxProcess } from '@qmpmux/e2e';
import { env } from './env.ts';
import { LineClient, pct } from './line-client.ts';
import { MiB, ensureNofile, fdCount, rss } from './proc.ts';
import { serveChild, startRelay } from './processes.ts';

const VMS = env('BENCH_VMS', 100);
const N = env('BENCH_N', 2000);
const WARMUP = env('BENCH_WARMUP', 2000);
const NOISY = env('BENCH_NOISY', 50);
const CHURN_S = env('BENCH_CHURN_S', 60);
/** More node/V8 options for the qmpmux process (space-separated), for experiments. */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
/** Seconds of the churn loop before its first reading. */
const CHURN_WARM_S = env('BENCH_CHURN_WARM_S', 10);
const IDLE = env('BENCH_IDLE_CLIENTS', 10_000);
const FANOUT = env('BENCH_FANOUT', 1000);
const FANOUT_RUNS = env('BENCH_FANOUT_RUNS', 20);
const SETTLE_MS = env('BENCH_SETTLE_MS', 2000);
/** The config's "threads" (unset: qmpmux's default), and what qmpmux runs with. */
const THREADS_SET = process.env.BENCH_THREADS !== undefined;
const THREADS = THREADS_SET ? env('BENCH_THREADS', 1) : threadsOf({ threads: 'auto', vms: [] });

ensureNofile(IDLE + FANOUT + 4 * VMS + 1024);

const dir = mkdtempSync(join(tmpdir(), 'qmpmux-fleet-bench-'));
const qmp = (i: number) => join(dir, `vm${i}.qmp`);
const sock = (i: number) => join(dir, `vm${i}.sock`);
const direct = join(dir, 'vm1-direct.qmp');
/** vm1's third monitor, behind a bare byte relay: what any proxy hop suffers under the noise. */
const relayQmp = join(dir, 'vm1-relay.qmp');
const relaySock = join(dir, 'vm1-relay.sock');
/** vm1's fourth monitor, behind a qmpmux process of its own: the noisy VM's work then shares no thread with vm1's. */
const ownQmp = join(dir, 'vm1-own.qmp');
const children: ChildProcess[] = [];
const us = (x: number) => `${x.toFixed(0)} µs`;
const mib = (b: number) => `${(b / MiB).toFixed(1)} MiB`;
const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`;

/** How long a wait may take: a hundred QEMUs and qmpmux on two cores take their time. */
const WAIT_MS = 60_000;

async function startQemus(): Promise<void> {
  for (let i = 1; i <= VMS; i++) {
    const extra = i === 1 ? ['-qmp', `unix:${direct},server=on,wait=off`, '-qmp', `unix:${relayQmp},server=on,wait=off`, '-qmp', `unix:${ownQmp},server=on,wait=off`] : [];
    children.push(spawn('qemu-system-x86_64', ['-M', 'none', '-display', 'none', '-nodefaults', '-name', `vm${i}`, '-qmp', `unix:${qmp(i)},server=on,wait=off`, ...extra], { stdio: 'ignore' }));
  }
  await until(() => Array.from({ length: VMS }, (_, i) => qmp(i + 1)).every(existsSync), 'QEMUs listening', WAIT_MS);
}

/** qmpmux serve with a fleet config of VMs 1..n (as its own process). */
function writeConfig(file: string, n: number, limits: Record<string, number> = {}): void {
  const vms = Array.from({ length: n }, (_, i) => ({ name: `vm${i + 1}`, upstream: `unix:${qmp(i + 1)}`, listen: [`unix:${sock(i + 1)}`], limits }));
  writeFileSync(file, JSON.stringify({ vms, log: 'warn', limits: { maxVms: Math.max(VMS, 1) }, ...(THREADS_SET ? { threads: THREADS } : {}) }));
}
const memFile = join(dir, 'memory.json');
async function startMux(file: string, n: number): Promise<QmpmuxProcess> {
  const mux = await spawnQmpmux(['serve', '--config', file], {
    nodeArgs: ['--expose-gc', '--require', join(import.meta.dirname, 'gc-on-signal.cjs'), ...NODE_ARGS],
    env: { QMPMUX_WARMUP: '0', BENCH_MEM_FILE: memFile },
    log: 'inherit',
    ready: () => Array.from({ length: n }, (_, i) => sock(i + 1)).every(existsSync),
    readyMs: WAIT_MS,
  });
  children.push(mux.child);
  return mux;
}
interface Inside {
  rss: number;
  /** V8's heap in use plus external memory, after GC. */
  heap: number;
  /** The event loop's delay since the previous reading (µs). */
  loopP50: number;
  loopP99: number;
  loopMax: number;
  /** CPU time / wall time since the previous reading. */
  cpuShare: number;
  /** Worker threads that collected their garbage too (their heaps are in heapUsed). */
  threads: number;
}
/** qmpmux's memory after a full GC (gc-on-signal.cjs), RSS from /proc; its loop delay and CPU since the last reading. */
async function memory(pid: number): Promise<Inside> {
  rmSync(memFile, { force: true });
  process.kill(pid, 'SIGUSR2');
  await until(() => existsSync(memFile), 'memory figures', WAIT_MS);
  await sleep(100);
  const m = JSON.parse(readFileSync(memFile, 'utf8')) as NodeJS.MemoryUsage & Inside;
  return { ...m, rss: rss(pid), heap: m.heapUsed + m.external };
}
/** The loop monitor samples with a 1 ms timer: what exceeds 1 ms is the delay. */
const late = (v: number) => us(Math.max(0, v - 1000));
const loopOf = (m: Inside) => `loop late p50 ${late(m.loopP50)} p99 ${late(m.loopP99)} max ${late(m.loopMax)}, CPU ${(m.cpuShare * 100).toFixed(0)}%`;
const mem = (m: { rss: number; heap: number }) => `RSS ${mib(m.rss)} (heap ${mib(m.heap)})`;

/** Open `n` negotiated clients, `batch` at a time (a unix listen backlog is finite). */
async function openMany(path: (i: number) => string, n: number, batch = 256): Promise<LineClient[]> {
  const out: LineClient[] = [];
  for (let i = 0; i < n; i += batch) out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, k) => LineClient.open(path(i + k))))));
  return out;
}

/** `count` sequential query-status round trips on one fresh client: the first `count` (cold), then after `warmup` more (warm). */
async function latency(path: string, count = N, warmup = WARMUP): Promise<{ cold: { p50: number; p99: number }; warm: { p50: number; p99: number } }> {
  const c = await LineClient.open(path);
  const run = async (k: number, record: boolean) => {
    const t: number[] = [];
    for (let i = 0; i < k; i++) {
      const t0 = process.hrtime.bigint();
      c.send(`{"execute":"query-status","id":${i % 10}}`);
      await c.next();
      if (record) t.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    t.sort((a, b) => a - b);
    return { p50: pct(t, 50), p99: pct(t, 99) };
  };
  const cold = await run(count, true);
  await run(warmup, false);
  const warm = await run(count, true);
  c.close();
  return { cold, warm };
}
const fmt = (l: { p50: number; p99: number }) => `p50 ${us(l.p50)} p99 ${us(l.p99)}`;
const ratio = (a: { p50: number; p99: number }, b: { p50: number; p99: number }) => `p50 ${x(a.p50, b.p50)} p99 ${x(a.p99, b.p99)}`;

/** Every VM in a (connect, negotiate, 10 commands, leave) loop for `seconds`; how many loops ran. */
async function churnLoops(seconds: number): Promise<number> {
  const end = Date.now() + seconds * 1000;
  let loops = 0;
  await Promise.all(
    Array.from({ length: VMS }, async (_, i) => {
      while (Date.now() < end) {
        const c = await LineClient.open(sock(i + 1));
        for (let k = 0; k < 10; k++) {
          c.send(`{"execute":"query-status","id":${k}}`);
          await c.next();
        }
        c.close();
        loops++;
      }
    }),
  );
  return loops;
}

/**
 * The churn loop for `warmS` (so the first reading is taken once the loop's own working set is
 * allocated: what is measured is growth over time), then for `seconds`, sampling qmpmux's fds and RSS
 * (the first and last reading after GC, with the heap).
 */
async function churn(pid: number, seconds: number, warmS: number): Promise<{ loops: number; samples: { t: number; fds: number; rss: number }[]; heap: [number, number]; cold: Inside }> {
  const cold = await memory(pid);
  if (warmS > 0) {
    await churnLoops(warmS);
    await sleep(SETTLE_MS);
  }
  const before = await memory(pid);
  const samples = [{ t: 0, fds: fdCount(pid), rss: before.rss }];
  const start = Date.now();
  const sampler = setInterval(() => samples.push({ t: (Date.now() - start) / 1000, fds: fdCount(pid), rss: rss(pid) }), (seconds * 1000) / 4);
  const loops = await churnLoops(seconds);
  clearInterval(sampler);
  await sleep(SETTLE_MS);
  const after = await memory(pid);
  samples.push({ t: seconds + SETTLE_MS / 1000, fds: fdCount(pid), rss: after.rss });
  return { loops, samples, heap: [before.heap, after.heap], cold };
}

/** Time for STOP (sent on `trigger`) to reach the last of `clients`; each run's figure. */
async function fanout(clients: LineClient[], trigger: LineClient, runs: number): Promise<number[]> {
  const out: number[] = [];
  for (let r = 0; r < runs; r++) {
    let left = clients.length;
    const done = new Promise<void>((res) => {
      for (const c of clients) c.onLine = (l) => void (l.includes('"event": "STOP"') && --left === 0 && res());
    });
    const t0 = process.hrtime.bigint();
    trigger.send('{"execute":"stop"}');
    await done;
    out.push(Number(process.hrtime.bigint() - t0) / 1000);
    trigger.lines.length = 0;
    trigger.send('{"execute":"cont"}');
    await sleep(50);
  }
  return out;
}

async function main(): Promise<void> {
  console.log(`qmpmux fleet benchmark — ${VMS} VMs in ${THREADS} thread(s)${THREADS_SET ? '' : ' (qmpmux default)'}, N=${N}, warm-up ${WARMUP}, noisy clients ${NOISY}, churn ${CHURN_S} s, idle clients ${IDLE}, fan-out ${FANOUT} × ${FANOUT_RUNS}`);
  await startQemus();
  const file = join(dir, 'fleet.json');

  // ---- one VM, then all: RSS per VM; latency alone vs among idle neighbours ----
  writeConfig(file, 1);
  const mux = await startMux(file, 1);
  const pid = mux.pid;
  const directLat = await latency(direct);
  const alone = await latency(sock(1));
  const idle1 = await openMany(() => sock(1), 1);
  await sleep(SETTLE_MS);
  const m1 = await memory(pid);
  writeConfig(file, VMS);
  mux.child.kill('SIGHUP');
  await until(() => Array.from({ length: VMS }, (_, i) => sock(i + 1)).every(existsSync), 'all VMs listening', WAIT_MS);
  const idleAll = [...idle1, ...(await openMany((i) => sock(i + 2), VMS - 1))];
  await sleep(SETTLE_MS);
  const mAll = await memory(pid);
  const among = await latency(sock(1));
  const quietInside = await memory(pid);
  const perVm = (k: 'rss' | 'heap') => kib((mAll[k] - m1[k]) / Math.max(VMS - 1, 1));
  console.log(`(1) memory after GC            1 VM ${mem(m1)} | ${VMS} VMs ${mem(mAll)} | per idle VM with a client: RSS ${perVm('rss')}, heap ${perVm('heap')} (target ≤ 2 MiB)${THREADS > 1 ? ` | threads collected: ${mAll.threads}` : ''}`);
  console.log(`(2) query-status on vm1, cold   direct ${fmt(directLat.cold)} | alone ${fmt(alone.cold)} | with ${VMS - 1} idle VMs ${fmt(among.cold)}`);
  console.log(`    warm                       direct ${fmt(directLat.warm)} | alone ${fmt(alone.warm)} | with ${VMS - 1} idle VMs ${fmt(among.warm)}`);
  console.log(`    ratios (warm)              among/alone ${ratio(among.warm, alone.warm)} (target ≤ 1.10x) | alone/direct ${ratio(alone.warm, directLat.warm)} | among/direct ${ratio(among.warm, directLat.warm)}`);

  // ---- noisy neighbour ----
  if (VMS >= 2) {
    const relay = await startRelay(relaySock, relayQmp);
    children.push(relay);
    const quietRelay = await latency(relaySock);
    // With threads, a VM that shares the noisy VM's thread (VMs go to the thread with the fewest, in
    // order: with k threads, vm2 and vm(k+2) share one).
    const mate = THREADS > 1 && VMS >= THREADS + 2 ? THREADS + 2 : undefined;
    const quietMate = mate ? await latency(sock(mate)) : undefined;
    const own = await serveChild(dir, 'vm1-own', `unix:${ownQmp}`, {});
    const quietOwn = await latency(own.socket);
    const noise = spawn(process.execPath, [...process.execArgv, join(import.meta.dirname, 'fleet-noise.ts'), sock(2), String(NOISY)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(noise);
    let out = '';
    noise.stdout!.on('data', (d) => (out += d));
    await until(() => out.includes('ready'), 'noise ready', WAIT_MS);
    await sleep(500);
    const t0 = Date.now();
    await memory(pid);
    const noisy = await latency(sock(1), N, 0);
    const noisyInside = await memory(pid);
    // The same machine under the same noise, without qmpmux in the path: vm1's direct monitor.
    const noisyDirect = await latency(direct, N, 0);
    // And through a bare byte relay (its own process, sharing no thread with the noisy VM's fan-out).
    const noisyRelay = await latency(relaySock, N, 0);
    // And through a qmpmux process of its own (the same code, another thread than the noisy VM's).
    const noisyOwn = await latency(own.socket, N, 0);
    const noisyMate = mate ? await latency(sock(mate), N, 0) : undefined;
    noise.kill('SIGTERM');
    await until(() => out.includes('cycles'), 'noise stopped', WAIT_MS);
    const quietDirect = await latency(direct, N, 0);
    const cycles = Number(/cycles (\d+)/.exec(out)![1]);
    const rate = (cycles / ((Date.now() - t0 + 500) / 1000)).toFixed(0);
    console.log(`(3) noisy neighbour            vm1 ${fmt(noisy.warm)} while vm2 ran ~${rate} stop/cont cycles/s to ${NOISY} clients | vs quiet ${ratio(noisy.warm, among.warm)} (target p99 ≤ 1.5x)`);
    console.log(`    inside qmpmux               quiet (2): ${loopOf(quietInside)} | noisy: ${loopOf(noisyInside)}`);
    console.log(`    the machine itself          vm1 direct under the same noise ${fmt(noisyDirect.warm)} | quiet (after it) ${fmt(quietDirect.warm)} | ratio ${ratio(noisyDirect.warm, quietDirect.warm)}`);
    console.log(`    any proxy hop               vm1 through a bare relay under the same noise ${fmt(noisyRelay.warm)} | quiet (before it) ${fmt(quietRelay.warm)} | ratio ${ratio(noisyRelay.warm, quietRelay.warm)}`);
    console.log(`    vm1 in its own qmpmux       under the same noise ${fmt(noisyOwn.warm)} | quiet (before it) ${fmt(quietOwn.warm)} | ratio ${ratio(noisyOwn.warm, quietOwn.warm)}`);
    if (mate) console.log(`    vm${mate}, the noisy VM's thread   under the same noise ${fmt(noisyMate!.warm)} | quiet (before it) ${fmt(quietMate!.warm)} | ratio ${ratio(noisyMate!.warm, quietMate!.warm)}`);
    relay.kill();
    await own.stop();
  }

  // ---- churn ----
  const ch = await churn(pid, CHURN_S, CHURN_WARM_S);
  const first = ch.samples[0]!;
  const last = ch.samples.at(-1)!;
  console.log(`(4) churn (after ${CHURN_WARM_S} s of it) ${ch.loops} loops in ${CHURN_S} s (${(ch.loops / CHURN_S).toFixed(0)}/s) | fds ${first.fds} → ${last.fds} | RSS after GC ${mib(first.rss)} → ${mib(last.rss)} (${x(last.rss, first.rss)}), heap ${mib(ch.heap[0])} → ${mib(ch.heap[1])} (${x(ch.heap[1], ch.heap[0])}) | samples ${ch.samples.map((s) => `${s.t.toFixed(0)}s:${s.fds}fd/${(s.rss / MiB).toFixed(0)}M`).join(' ')} | before the first ${CHURN_WARM_S} s: ${mem(ch.cold)}`);
  for (const c of idleAll) c.close();
  await mux.stop();

  // ---- one VM, many clients ----
  writeConfig(file, 1, { maxClients: IDLE + FANOUT + 16 });
  const one = await startMux(file, 1);
  const trigger = await LineClient.open(direct);
  const base = await openMany(() => sock(1), 1);
  await sleep(SETTLE_MS);
  const before = await memory(one.pid);
  const many = await openMany(() => sock(1), IDLE);
  await sleep(SETTLE_MS);
  const after = await memory(one.pid);
  console.log(`(5) ${IDLE} idle clients on one VM  ${mem(before)} → ${mem(after)} | per client: RSS ${kib((after.rss - before.rss) / IDLE)}, heap ${kib((after.heap - before.heap) / IDLE)} (target ≤ 64 KiB) | qmpmux fds ${fdCount(one.pid)}`);
  for (const c of many.splice(FANOUT)) c.close();
  await sleep(SETTLE_MS);
  const runs = await fanout(many, trigger, FANOUT_RUNS);
  const sorted = [...runs.slice(1)].sort((a, b) => a - b);
  // Direct QEMU: its one client (the trigger's monitor takes one client at a time), STOP sent through qmpmux.
  const via = await LineClient.open(sock(1));
  const directRuns = await fanout([trigger], via, Math.min(FANOUT_RUNS, 5));
  const directMedian = [...directRuns].sort((a, b) => a - b)[Math.floor(directRuns.length / 2)]!;
  const median = sorted[Math.floor(sorted.length / 2)] ?? runs[0]!;
  console.log(`(6) STOP to the last of ${FANOUT}     cold (first run) ${us(runs[0]!)} | warm median of ${sorted.length} ${us(median)} (target ≤ 20 ms) | direct QEMU, its one client ${us(directMedian)} | ratio ${x(median, directMedian)}`);
  for (const c of [...many, ...base, trigger, via]) c.close();
  await one.stop();
}

try {
  await main();
} finally {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await sleep(200);
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
