/** The benchmark's processes: one QEMU with several QMP monitors, and `qmpmux serve` children. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnQmpmux } from '@qmpmux/e2e';
import { LineClient } from './line-client.ts';

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
  const nodeArgs = [...(o.nodeFlags ?? []), ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean)];
  const args = ['serve', '--upstream', `unix:${o.upstream}`, '--listen', `unix:${o.listen}`, '--log', 'info', ...(o.http ? ['--http', o.http] : []), ...(o.config ? ['--config', o.config] : [])];
  const passOn = (line: string) => {
    if (/^qmpmux (warn|error)/.test(line) || !line.startsWith('qmpmux ')) process.stderr.write(line + '\n');
  };
  const t0 = process.hrtime.bigint();
  const p = await spawnQmpmux(args, { nodeArgs, env: o.env, ready: /\blistening on unix:/, onLogLine: passOn });
  const startMs = Number(process.hrtime.bigint() - t0) / 1e6;
  return {
    warmUp: /warm-up: .*/.exec(p.log())?.[0],
    startMs,
    async stop() {
      await p.stop('SIGTERM', 5000);
    },
  };
}

export interface ServeChild {
  /** The unix socket qmpmux listens on (a path). */
  socket: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Start `qmpmux serve --upstream UPSTREAM --listen unix:DIR/NAME.sock --config DIR/NAME.json` (its
 * warnings and errors on this process's stderr) and wait until a client gets through to QEMU (a
 * negotiated `query-status` answers).
 */
export async function serveChild(dir: string, name: string, upstream: string, config: Record<string, unknown>): Promise<ServeChild> {
  const socket = join(dir, `${name}.sock`);
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(config));
  const answers = async () => {
    try {
      const c = await LineClient.open(socket);
      c.send('{"execute":"query-status"}');
      const r = await c.next();
      c.close();
      return r.includes('"return"');
    } catch {
      return false; // not yet
    }
  };
  const p = await spawnQmpmux(['serve', '--upstream', upstream, '--listen', `unix:${socket}`, '--config', file, '--log', 'warn'], { log: 'inherit', ready: answers });
  return {
    socket,
    pid: p.pid,
    async stop() {
      await p.stop();
    },
  };
}

/** A Node byte relay with no parsing at all: the least any proxy process can add (a reference). */
export async function startRelay(from: string, to: string): Promise<ChildProcess> {
  const relay = spawn(process.execPath, ['-e', `const n=require('net');n.createServer(c=>{const u=n.connect(${JSON.stringify(to)});c.pipe(u);u.pipe(c);c.on('error',()=>u.destroy());u.on('error',()=>c.destroy())}).listen(${JSON.stringify(from)})`], { stdio: 'inherit' });
  while (!existsSync(from)) await sleep(10);
  return relay;
}
