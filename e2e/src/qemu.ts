/** A real QEMU (`-M none`, no guest) with a QMP socket, for tests: started now (startQemu) or around a file's tests (useQemu). */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopProcess } from './child.ts';

export const QEMU_BINARY = process.env.QMPMUX_TEST_QEMU ?? 'qemu-system-x86_64';

export interface TestQemu {
  readonly dir: string;
  readonly socket: string;
  /** `unix:…` address of its QMP socket. */
  readonly address: string;
  readonly pid: number;
  readonly proc: ChildProcess;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
  /** Kill and start again on the same socket path. */
  restart(): Promise<void>;
  /** Stop and remove the temp dir. */
  stop(): Promise<void>;
}

export interface StartQemuOptions {
  /** More QEMU arguments. */
  args?: string[];
  /** Where its socket goes (default: a new temp dir, removed by stop()). */
  dir?: string;
  /** The socket's file name in `dir` (default `qemu.qmp`). */
  socket?: string;
  /** QEMU's `-name` (what `query-name` returns). */
  name?: string;
}

/**
 * A unix socket someone listens on (from /proc/net/unix: the listening flag, 00010000). QEMU creates
 * its socket file at bind(), before listen(): a client connecting in between is refused.
 */
function listening(path: string): boolean {
  return readFileSync('/proc/net/unix', 'latin1')
    .split('\n')
    .some((l) => l.endsWith(` ${path}`) && l.split(/\s+/)[3] === '00010000');
}

export async function startQemu(opts: StartQemuOptions = {}): Promise<TestQemu> {
  const q = testQemu(opts);
  await q.launch();
  return q.qemu;
}

/**
 * A QEMU for the tests of this file (or describe): started in a `before` hook, stopped in an `after`
 * hook registered here. Its members are there from that `before` on.
 */
export function useQemu(opts: StartQemuOptions = {}): TestQemu {
  const q = testQemu(opts);
  before(() => q.launch());
  after(() => q.qemu.stop());
  return q.qemu;
}

/** A QEMU not started yet: `launch()` starts it (and starts it again, once killed). For fixtures (useQemu, useProxy). */
export function testQemu(opts: StartQemuOptions): { qemu: TestQemu; launch(): Promise<void> } {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'qmpmux-e2e-'));
  const socket = join(dir, opts.socket ?? 'qemu.qmp');
  const args = [...(opts.name !== undefined ? ['-name', opts.name] : []), ...(opts.args ?? [])];
  let proc!: ChildProcess;
  const launch = async () => {
    rmSync(socket, { force: true });
    proc = spawn(QEMU_BINARY, ['-M', 'none', '-display', 'none', '-nodefaults', ...args, '-qmp', `unix:${socket},server=on,wait=off`], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const deadline = Date.now() + 10_000;
    while (!listening(socket)) {
      if (proc.exitCode !== null) throw new Error(`QEMU exited with ${proc.exitCode}`);
      if (Date.now() > deadline) throw new Error('QEMU did not listen on its QMP socket in 10 s');
      await sleep(10);
    }
  };
  const kill = async () => {
    if (proc) await stopProcess(proc);
  };
  const qemu: TestQemu = {
    dir,
    socket,
    address: `unix:${socket}`,
    get pid() {
      return proc.pid!;
    },
    get proc() {
      return proc;
    },
    kill,
    async restart() {
      await kill();
      await launch();
    },
    async stop() {
      await kill();
      if (ownDir) rmSync(dir, { recursive: true, force: true });
      else rmSync(socket, { force: true });
    },
  };
  return { qemu, launch };
}
