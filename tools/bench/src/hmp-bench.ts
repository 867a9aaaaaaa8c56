/**
 * HMP `info status` throughput through qmpmux (`qmpmux serve`, a child process) with the hmp-audit
 * plugin off, and on with each durability policy; ratios against off.
 *
 *   npm run bench:hmp -w @qmpmux/bench -- [--seconds 3] [--rounds 5] [--clients 1,8] [--warmup 3] [--dir DIR]
 *
 * Configurations: off (no plugin), batch (defaults: 256 records / 100 ms), always, and batch1s (fsync
 * at most once a second: how much the fsync frequency itself costs). Each client sends `info status`
 * and waits for the reply, in a loop. Also printed: qmpmux's CPU time per command (from /proc). Rounds alternate the
 * configurations so drift hits all alike; the median round is printed. The log goes to --dir (default:
 * the OS temp dir): fsync costs depend on the file system under it.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClient } from '@qmpmux/client';
import { startQemu } from '@qmpmux/e2e';
import { median } from './line-client.ts';
import { cpuMs } from './proc.ts';
import { serveChild } from './processes.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const SECONDS = Number(opt('seconds', '3'));
const ROUNDS = Number(opt('rounds', '5'));
const CLIENTS = opt('clients', '1,8').split(',').map(Number);
/** Warm-up before counting: qmpmux is a long-running sidecar; V8 compiles its hot path in the first seconds. */
const WARMUP_S = Number(opt('warmup', '3'));
const BASE = opt('dir', tmpdir());

type Config = { name: string; audit?: Record<string, unknown> };
const CONFIGS: Config[] = [
  { name: 'off' },
  { name: 'batch', audit: { fsync: 'batch' } },
  { name: 'always', audit: { fsync: 'always' } },
  { name: 'batch1s', audit: { fsync: 'batch', batch: { maxRecords: 1000000, maxDelayMs: 1000 } } },
];

const dir = mkdtempSync(join(BASE, 'hmp-bench-'));
const qemu = await startQemu();

async function serve(cfg: Config, round: number): Promise<{ address: string; stop(): Promise<void>; logBytes(): number; cpuMs(): number }> {
  const name = `${cfg.name}-${round}`;
  const logPath = join(dir, name, 'audit.log');
  const s = await serveChild(dir, name, qemu.address, { plugins: cfg.audit ? [{ name: 'hmp-audit', options: { path: logPath, rotate: { maxBytes: 0 }, ...cfg.audit } }] : [] });
  return {
    address: `unix:${s.socket}`,
    stop: s.stop,
    logBytes: () => (cfg.audit && existsSync(logPath) ? statSync(logPath).size : 0),
    cpuMs: () => cpuMs(s.pid),
  };
}

async function measure(address: string, clients: number, cpuMs: () => number): Promise<{ ops: number; cpuUsPerOp: number }> {
  const cs = await Promise.all(Array.from({ length: clients }, () => QmpClient.connect(address)));
  let count = 0;
  let counting = false;
  let running = true;
  const loops = cs.map(async (c) => {
    while (running) {
      await c.execute('human-monitor-command', { 'command-line': 'info status' });
      if (counting) count++;
    }
  });
  await sleep(WARMUP_S * 1000);
  counting = true;
  const t0 = process.hrtime.bigint();
  const c0 = cpuMs();
  await sleep(SECONDS * 1000);
  counting = false;
  const c1 = cpuMs();
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  running = false;
  await Promise.all(loops);
  for (const c of cs) c.close();
  return { ops: count / secs, cpuUsPerOp: ((c1 - c0) * 1000) / count };
}

const results = new Map<string, number[]>(); // `${config}/${clients}` -> ops/s per round
const cpu = new Map<string, number[]>(); // `${config}/${clients}` -> qmpmux CPU µs per command, per round
let bytesPerCommand = 0;
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const cfg of round % 2 ? [...CONFIGS].reverse() : CONFIGS) {
      const s = await serve(cfg, round);
      let total = 0;
      for (const n of CLIENTS) {
        const { ops, cpuUsPerOp } = await measure(s.address, n, s.cpuMs);
        total += ops * SECONDS;
        const k = `${cfg.name}/${n}`;
        results.set(k, [...(results.get(k) ?? []), ops]);
        cpu.set(k, [...(cpu.get(k) ?? []), cpuUsPerOp]);
      }
      if (cfg.audit && s.logBytes()) bytesPerCommand = s.logBytes() / total;
      await s.stop();
    }
  }
} finally {
  await qemu.stop();
  rmSync(dir, { recursive: true, force: true });
}

console.log(`HMP 'info status' through qmpmux serve, ${SECONDS} s x ${ROUNDS} rounds (median), log under ${BASE}`);
console.log(`node ${process.version}, ~${Math.round(bytesPerCommand)} log bytes per command (command + reply records)`);
console.log('clients  config    ops/s (min-max)          ratio vs off   qmpmux CPU µs/command');
for (const n of CLIENTS) {
  const off = median(results.get(`off/${n}`)!);
  for (const cfg of CONFIGS) {
    const xs = results.get(`${cfg.name}/${n}`)!;
    const v = median(xs);
    const range = `(${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`;
    console.log(`${String(n).padStart(7)}  ${cfg.name.padEnd(8)} ${v.toFixed(0).padStart(6)} ${range.padEnd(16)}   ${(v / off).toFixed(2)}x          ${median(cpu.get(`${cfg.name}/${n}`)!).toFixed(0)}`);
  }
}
