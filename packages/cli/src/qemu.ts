/**
 * A QEMU that qmpmux starts and supervises itself when no --upstream is given: restarted with backoff
 * when it exits unexpectedly, stopped with qmpmux.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@qmpmux/core';

export const DEFAULT_QEMU_BINARY = 'qemu-system-x86_64';
export const DEFAULT_QEMU_ARGS = ['-M', 'none', '-display', 'none', '-nodefaults'];

/**
 * QEMU runs under a small sh watchdog holding a pipe from qmpmux on fd 3: when qmpmux goes away —
 * even by SIGKILL — the pipe closes and the watchdog stops QEMU, so no VM is left orphaned. SIGTERM
 * to the watchdog is passed on to QEMU, also one that comes while QEMU is being started: the trap is
 * set first, a signal before QEMU's pid is known is passed on as soon as it is, and one that reaches
 * QEMU's process before its exec is not swallowed by the trap that process inherited. qmpmux stops
 * QEMU by closing the pipe (and TERM to the watchdog); a QEMU that does not go is killed after 10 s.
 * The watchdog exits with QEMU's status.
 */
const WATCHDOG = [
  'exec 3<&0',
  'q= stop=',
  "trap 'stop=1; [ -z \"$q\" ] || kill -TERM $q 2>/dev/null' TERM INT",
  // QEMU's shell (forked, then exec'd) must not keep the trap: a TERM between the fork and the exec
  // would be taken by it and QEMU started anyway. It drops the trap, and gives up if a TERM came first.
  '( trap - TERM INT; [ -z "$stop" ] || exit 143; exec "$0" "$@" ) </dev/null &',
  'q=$!',
  '[ -z "$stop" ] || kill -TERM $q 2>/dev/null',
  // The pipe's watcher: when it closes, TERM to QEMU every second (a TERM that comes while QEMU is
  // still setting up its main loop can go unnoticed until something wakes it), KILL after ten.
  '( trap - TERM INT; read _ <&3; n=0; while kill -TERM $q 2>/dev/null && [ $n -lt 10 ]; do sleep 1; n=$((n+1)); done; kill -KILL $q 2>/dev/null ) &',
  'r=$!',
  'wait $q; s=$?',
  'while kill -0 $q 2>/dev/null; do wait $q; s=$?; done',
  'kill $r 2>/dev/null',
  'exit $s',
].join('\n');

export class ManagedQemu {
  readonly dir = mkdtempSync(join(tmpdir(), 'qmpmux-qemu-'));
  readonly socket = join(this.dir, 'qemu.qmp');
  private child: ChildProcess | undefined;
  private stopping = false;
  private delay = 500;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly binary: string,
    private readonly args: string[],
    private readonly log: Logger,
  ) {}

  get upstream(): string {
    return `unix:${this.socket}`;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    const argv = [...this.args, '-qmp', `unix:${this.socket},server=on,wait=off`];
    this.log.info(`starting ${this.binary} ${argv.join(' ')}`);
    const started = Date.now();
    const child = spawn('/bin/sh', ['-c', WATCHDOG, this.binary, ...argv], { stdio: ['pipe', 'ignore', 'pipe'] });
    child.stdin!.on('error', () => {});
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      for (const l of d.split('\n')) if (l.trim()) this.log.warn(`QEMU: ${l.trim()}`);
    });
    this.child = child;
    child.on('error', (e) => this.log.error(`cannot start QEMU: ${e.message}`));
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopping) return;
      if (Date.now() - started > 10_000) this.delay = 500;
      this.log.warn(`QEMU exited (${signal ?? `code ${code}`}); restarting in ${this.delay} ms`);
      this.timer = setTimeout(() => this.start(), this.delay);
      this.delay = Math.min(this.delay * 2, 30_000);
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    const child = this.child;
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      // 'close': QEMU's stderr (a pipe it shares with the watchdog) read to its end, so all it said
      // is logged before qmpmux's own last words. Bounded, should a killed watchdog leave it open.
      const closed = new Promise((r) => child.once('close', r));
      child.stdin!.end(); // the watchdog stops QEMU
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
      await Promise.race([closed, sleep(1000)]);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
