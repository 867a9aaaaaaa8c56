/** Start a real QEMU (`-M none`, no guest) with a QMP socket, for tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/**
 * `dir`: where its socket goes (default: a new temp dir, removed by stop()); `socket`: the socket's
 * file name in it (default `qemu.qmp`); `name`: QEMU's `-name` (what `query-name` returns).
 */
export async function startQemu(opts: { args?: string[]; dir?: string; socket?: string; name?: string } = {}): Promise<TestQemu> {
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
    while (!existsSync(socket)) {
      if (proc.exitCode !== null) throw new Error(`QEMU exited with ${proc.exitCode}`);
      if (Date.now() > deadline) throw new Error('QEMU did not create its QMP socket in 10 s');
      await sleep(10);
    }
  };
  const kill = async () => {
    await stopProcess(proc);
  };
  await launch();
  return {
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
}
