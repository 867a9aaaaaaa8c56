/** `qmpmux serve` as a child process with a given configuration, for the benchmarks. */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LineClient } from './line-client.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const BIN = join(ROOT, 'packages/cli/bin/qmpmux.mjs');

export interface ServeChild {
  /** The unix socket qmpmux listens on (a path). */
  socket: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Start `qmpmux serve --upstream UPSTREAM --listen unix:DIR/NAME.sock --config DIR/NAME.json` and wait
 * until a client gets through to QEMU (a negotiated `query-status` answers).
 */
export async function serveChild(dir: string, name: string, upstream: string, config: Record<string, unknown>): Promise<ServeChild> {
  const socket = join(dir, `${name}.sock`);
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(config));
  const proc = spawn(process.execPath, [BIN, 'serve', '--upstream', upstream, '--listen', `unix:${socket}`, '--config', file, '--log', 'warn'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((r) => proc.once('exit', r));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`qmpmux serve (${name}) exited with ${proc.exitCode}`);
    if (Date.now() > deadline) throw new Error(`qmpmux serve (${name}) did not come up in 30 s`);
    if (existsSync(socket)) {
      try {
        const c = await LineClient.open(socket);
        c.send('{"execute":"query-status"}');
        const r = await c.next();
        c.close();
        if (r.includes('"return"')) break;
      } catch {
        /* not yet */
      }
    }
    await sleep(50);
  }
  return {
    socket,
    pid: proc.pid!,
    async stop() {
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
