/**
 * Direct QEMU vs through qmpmux, same QEMU (two QMP monitors: one for direct clients, one owned by a
 * qmpmux child process), printed as figures and ratios. Not a test: run it with `npm run bench`.
 *   (a) p50/p99 latency of sequential query-status (and, for reference, through a bare byte relay)
 *   (b) aggregate commands/s: 16 clients through qmpmux vs one direct client pipelining
 *   (c) time for STOP to reach the last of N clients through qmpmux (vs one direct client)
 * Environment: BENCH_N (default 5000), BENCH_CLIENTS (200).
 */
import net from 'node:net';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const N = Number(process.env.BENCH_N ?? 5000);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 5000);
const FANOUT = Number(process.env.BENCH_CLIENTS ?? 200);
const root = resolve(fileURLToPath(import.meta.url), '../../../..');

/** A minimal line client: QEMU and qmpmux both end every message with \r\n. */
class LineClient {
  private buf = '';
  private waiters: ((line: string) => void)[] = [];
  lines: string[] = [];
  onLine?: (line: string) => void;
  constructor(readonly sock: net.Socket) {
    sock.setNoDelay(true);
    sock.on('data', (d) => {
      this.buf += d.toString('latin1');
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        if (this.onLine) this.onLine(line);
        else {
          const w = this.waiters.shift();
          if (w) w(line);
          else this.lines.push(line);
        }
      }
    });
  }
  static async open(path: string, negotiate = true): Promise<LineClient> {
    const sock = net.connect(path);
    await new Promise((r, j) => sock.once('connect', r).once('error', j));
    const c = new LineClient(sock);
    await c.next(); // greeting
    if (negotiate) {
      c.send('{"execute":"qmp_capabilities"}');
      await c.next();
    }
    return c;
  }
  next(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((r) => this.waiters.push(r));
  }
  send(s: string): void {
    this.sock.write(s);
  }
  close(): void {
    this.sock.destroy();
  }
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function latency(path: string): Promise<{ p50: number; p99: number }> {
  const c = await LineClient.open(path);
  // Warm-up: a sidecar runs for days; measure steady state, after V8 has compiled the hot path.
  for (let i = 0; i < WARMUP; i++) (c.send(`{"execute":"query-status","id":${i}}`), await c.next());
  const t: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = process.hrtime.bigint();
    c.send(`{"execute":"query-status","id":${i}}`);
    await c.next();
    t.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  c.close();
  t.sort((a, b) => a - b);
  return { p50: pct(t, 50), p99: pct(t, 99) };
}

/** `clients` clients, each keeping `window` commands outstanding, `total` commands in all. */
async function throughput(path: string, clients: number, window: number, total: number): Promise<number> {
  const cs = await Promise.all(Array.from({ length: clients }, () => LineClient.open(path)));
  const per = Math.floor(total / clients);
  const t0 = process.hrtime.bigint();
  await Promise.all(
    cs.map(async (c) => {
      let sent = 0;
      let done = 0;
      await new Promise<void>((resolveAll) => {
        c.onLine = () => {
          done++;
          if (sent < per) c.send(`{"execute":"query-status","id":${sent++}}`);
          if (done === per) resolveAll();
        };
        while (sent < Math.min(window, per)) c.send(`{"execute":"query-status","id":${sent++}}`);
      });
    }),
  );
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const c of cs) c.close();
  return (per * clients) / secs;
}

async function fanout(path: string, n: number, trigger: string): Promise<number> {
  const cs = await Promise.all(Array.from({ length: n }, () => LineClient.open(path)));
  const ctl = await LineClient.open(trigger);
  const samples: number[] = [];
  for (let round = 0; round < 5; round++) {
    let left = n;
    const done = new Promise<void>((r) => {
      for (const c of cs)
        c.onLine = (l) => {
          if (l.includes('"event": "STOP"') && --left === 0) r();
        };
    });
    const t0 = process.hrtime.bigint();
    ctl.send('{"execute":"stop"}');
    await done;
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
    await ctl.next();
    ctl.send('{"execute":"cont"}');
    await sleep(50);
    ctl.lines.length = 0;
  }
  for (const c of [...cs, ctl]) c.close();
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'qmpmux-bench-'));
  const direct = join(dir, 'direct.qmp');
  const owned = join(dir, 'owned.qmp');
  const muxSock = join(dir, 'mux.sock');
  // BENCH_PIN=1: QEMU on CPU 0, qmpmux and the clients on CPU 1 (run under `taskset -c 1`).
  const pin = process.env.BENCH_PIN === '1' ? ['taskset', '-c', '0'] : [];
  const qemu = spawn(pin[0] ?? 'qemu-system-x86_64', [...pin.slice(1), ...(pin.length ? ['qemu-system-x86_64'] : []), '-M', 'none', '-display', 'none', '-nodefaults', '-qmp', `unix:${direct},server=on,wait=off`, '-qmp', `unix:${owned},server=on,wait=off`], { stdio: 'ignore' });
  while (!existsSync(owned)) await sleep(10);
  const mux = spawn(process.execPath, [...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean), join(root, 'packages/cli/bin/qmpmux.mjs'), 'serve', '--upstream', `unix:${owned}`, '--listen', `unix:${muxSock}`, '--log', 'warn'], { stdio: 'inherit' });
  while (!existsSync(muxSock)) await sleep(10);
  await sleep(300);
  try {
    console.log(`qmpmux benchmark — QEMU ${qemu.pid}, qmpmux ${mux.pid}, N=${N}`);
    const d = await latency(direct);
    const m = await latency(muxSock);
    // For reference: the least any proxy process can add here — a Node byte relay with no parsing at all.
    const relaySock = join(dir, 'relay.sock');
    const relay = spawn(process.execPath, ['-e', `const n=require('net');n.createServer(c=>{const u=n.connect(${JSON.stringify(direct)});c.pipe(u);u.pipe(c);c.on('error',()=>u.destroy());u.on('error',()=>c.destroy())}).listen(${JSON.stringify(relaySock)})`], { stdio: 'inherit' });
    while (!existsSync(relaySock)) await sleep(10);
    const r = await latency(relaySock);
    relay.kill();
    await sleep(100);
    console.log(`(a) query-status latency µs   direct p50 ${d.p50.toFixed(1)} p99 ${d.p99.toFixed(1)} | qmpmux p50 ${m.p50.toFixed(1)} p99 ${m.p99.toFixed(1)} | ratio p50 ${(m.p50 / d.p50).toFixed(2)}x p99 ${(m.p99 / d.p99).toFixed(2)}x (targets ≤1.10x, ≤1.25x)`);
    console.log(`    a bare byte relay (no parsing) p50 ${r.p50.toFixed(1)} p99 ${r.p99.toFixed(1)} | ratio p50 ${(r.p50 / d.p50).toFixed(2)}x p99 ${(r.p99 / d.p99).toFixed(2)}x`);
    const dt = await throughput(direct, 1, 16, N * 4);
    const mt = await throughput(muxSock, 16, 1, N * 4);
    console.log(`(b) commands/s                direct 1 client pipelining ${dt.toFixed(0)} | qmpmux 16 clients ${mt.toFixed(0)} | ratio ${(mt / dt).toFixed(2)}x (target ≥1.0x)`);
    const df = await fanout(direct, 1, muxSock);
    const mf = await fanout(muxSock, FANOUT, direct);
    console.log(`(c) STOP reaches last client  direct 1 client ${df.toFixed(0)} µs | qmpmux ${FANOUT} clients ${mf.toFixed(0)} µs | ratio ${(mf / df).toFixed(2)}x`);
  } finally {
    mux.kill('SIGTERM');
    qemu.kill('SIGKILL');
    await sleep(200);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
