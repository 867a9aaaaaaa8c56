/** The benchmark's processes: one QEMU with several QMP monitors, and `qmpmux serve` children. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../../../..');
const BIN = join(root, 'packages/cli/bin/qmpmux.mjs');

/** BENCH_PIN=1: QEMU on CPU 0 (qmpmux and the clients on CPU 1: run the bench under `taskset -c 1`). */
const pin = process.env.BENCH_PIN === '1' ? ['taskset', '-c', '0'] : [];

/** A QEMU (`-M none`) with one QMP monitor per path (each serves one client at a time). */
export async function startQemu(monitors: string[]): Promise<ChildProcess> {
  const args = ['-M', 'none', '-display', 'none', '-nodefaults', ...monitors.flatMap((m) => ['-qmp', `unix:${m},server=on,wait=off`])];
  const qemu = pin.length ? spawn(pin[0]!, [...pin.slice(1), 'qemu-system-x86_64', ...args], { stdio: 'ignore' }) : spawn('qemu-system-x86_64', args, { stdio: 'ignore' });
  while (!monitors.every((m) => existsSync(m))) await sleep(10);
  return qemu;
}

export interface Served {
  proc: ChildProcess;
  /** The warm-up line qmpmux logged (`warm-up: N commands in X ms`), if any. */
  warmUp: string | undefined;
  /** Milliseconds from spawn to listening. */
  startMs: number;
  stop(): Promise<void>;
}

export interface ServeOptions {
  upstream: string;
  listen: string;
  /** --http HOST:PORT */
  http?: string;
  /** --config FILE */
  config?: string;
  /** Extra environment (QMPMUX_WARMUP, …). */
  env?: Record<string, string>;
  /** Node flags before the script (BENCH_NODE_FLAGS adds to them). */
  nodeFlags?: string[];
}

/**
 * Spawn `qmpmux serve` and resolve the moment it logs `listening on` (what a user waiting for the
 * socket sees), so a cold measurement starts right after it is ready. Its warnings and errors are
 * passed through.
 */
export async function serve(o: ServeOptions): Promise<Served> {
  const flags = [...(o.nodeFlags ?? []), ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean)];
  const args = [...flags, BIN, 'serve', '--upstream', `unix:${o.upstream}`, '--listen', `unix:${o.listen}`, '--log', 'info', ...(o.http ? ['--http', o.http] : []), ...(o.config ? ['--config', o.config] : [])];
  const t0 = process.hrtime.bigint();
  const proc = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'pipe'], env: { ...process.env, ...o.env } });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  let warmUp: string | undefined;
  let buf = '';
  const listening = new Promise<void>((resolveListening, reject) => {
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const w = /warm-up: .*/.exec(line);
        if (w) warmUp = w[0];
        if (/\blistening on unix:/.test(line)) resolveListening();
        else if (/^qmpmux (warn|error)/.test(line) || !line.startsWith('qmpmux ')) process.stderr.write(line + '\n');
      }
    });
    void exited.then(() => reject(new Error('qmpmux serve exited before listening')));
  });
  await listening;
  const startMs = Number(process.hrtime.bigint() - t0) / 1e6;
  return {
    proc,
    warmUp,
    startMs,
    async stop() {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** A free TCP port on 127.0.0.1 (for --http). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A Node byte relay with no parsing at all: the least any proxy process can add (a reference). */
export async function startRelay(from: string, to: string): Promise<ChildProcess> {
  const relay = spawn(process.execPath, ['-e', `const n=require('net');n.createServer(c=>{const u=n.connect(${JSON.stringify(to)});c.pipe(u);u.pipe(c);c.on('error',()=>u.destroy());u.on('error',()=>c.destroy())}).listen(${JSON.stringify(from)})`], { stdio: 'inherit' });
  while (!existsSync(from)) await sleep(10);
  return relay;
}
