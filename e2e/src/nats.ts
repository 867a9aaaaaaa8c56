/**
 * Start a real nats-server with JetStream (Debian's `nats-server`, 2.9), one per test: its own store
 * dir and ports. `kill9()` and `restart()` keep the store, to test outages and durability. Optionally
 * with a configuration file (e.g. operator mode: nats-jwt.ts) and TLS on the client port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestCa } from './certs.ts';
import { stopProcess } from './child.ts';

export const NATS_SERVER_BINARY = process.env.QMPMUX_TEST_NATS ?? 'nats-server';

export interface TestNats {
  /** `nats://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** The JetStream store directory (kept across kill9/restart). */
  readonly storeDir: string;
  readonly pid: number;
  /** SIGKILL and wait for the exit. */
  kill9(): Promise<void>;
  /** Start again (same port, same store) and wait until JetStream answers. Kills first if running. */
  restart(): Promise<void>;
  /** Kill and remove the store. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

class NatsStartError extends Error {
  constructor(
    code: number,
    readonly said: string,
  ) {
    super(`nats-server exited with ${code}: ${said.trim().split('\n').slice(-3).join(' | ')}`);
  }
}

export interface StartNatsOptions {
  /** More command-line arguments (they win over `config`). */
  args?: string[];
  /** The text of a configuration file (written to the server's directory, given with `-c`). */
  config?: string;
  /**
   * TLS on the client port, with a server certificate for 127.0.0.1 and localhost issued by `ca`;
   * `verify`: clients must present a certificate `ca` signed. The monitor port, where the health
   * check asks, stays plain HTTP.
   */
  tls?: { ca: TestCa; verify?: boolean };
}

export async function startNats(opts: StartNatsOptions = {}): Promise<TestNats> {
  const dir = mkdtempSync(join(tmpdir(), 'qmpmux-nats-'));
  const storeDir = join(dir, 'store');
  const extra = [...(opts.args ?? [])];
  if (opts.config !== undefined) {
    writeFileSync(join(dir, 'nats.conf'), opts.config);
    extra.push('-c', join(dir, 'nats.conf'));
  }
  if (opts.tls) {
    const server = opts.tls.ca.issue('nats-server', { subject: '/CN=127.0.0.1', san: ['IP:127.0.0.1', 'DNS:localhost'], server: true });
    extra.push('--tls', '--tlscert', server.cert, '--tlskey', server.key);
    if (opts.tls.verify) extra.push('--tlsverify', '--tlscacert', opts.tls.ca.cert);
  }
  let port = await freePort();
  let monitor = await freePort();
  let proc!: ChildProcess;
  /** Start it on `port`/`monitor`; rejects with its own last words when it exits first. */
  const launch = async () => {
    proc = spawn(NATS_SERVER_BINARY, ['-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(port), '-m', String(monitor), ...extra], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let said = '';
    proc.stderr!.on('data', (d: Buffer) => {
      said = (said + d.toString()).slice(-2000);
      if (process.env.QMPMUX_TEST_LOG === 'debug') process.stderr.write(d);
    });
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.exitCode !== null) throw new NatsStartError(proc.exitCode, said);
      try {
        const r = await fetch(`http://127.0.0.1:${monitor}/healthz?js-enabled-only=true`);
        if (r.ok) return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`nats-server did not become healthy in 15 s: ${said.trim()}`);
      await sleep(20);
    }
  };
  // freePort() releases the port before nats-server binds it: another process on the machine may take
  // it in between. Then (only at the first start) take other ports.
  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (e) {
      if (!(e instanceof NatsStartError) || !/address already in use/i.test(e.said) || attempt === 3) throw e;
      port = await freePort();
      monitor = await freePort();
    }
  }
  const kill9 = async () => {
    await stopProcess(proc);
  };
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    get pid() {
      return proc.pid!;
    },
    kill9,
    async restart() {
      await kill9();
      await launch();
    },
    async stop() {
      await kill9();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
