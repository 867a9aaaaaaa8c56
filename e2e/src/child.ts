/** Ending a child process the harness started (QEMU, nats-server, qmpmux) and waiting until it is gone; finding processes by command line. */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Send `signal` (default SIGKILL) unless the process has exited already, and wait for its exit; one
 * that is still there after `graceMs` gets SIGKILL. Resolves with its exit status (null when a signal
 * ended it).
 */
export async function stopProcess(proc: ChildProcess, signal: NodeJS.Signals = 'SIGKILL', graceMs = 30_000): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  proc.kill(signal);
  const t = signal === 'SIGKILL' ? undefined : setTimeout(() => proc.kill('SIGKILL'), graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(t);
  }
}

/** The pids of the processes whose command line holds `text` (e.g. a QEMU's socket path), from /proc. */
export function processesWith(text: string): string[] {
  return readdirSync('/proc').filter((p) => {
    try {
      return /^\d+$/.test(p) && readFileSync(`/proc/${p}/cmdline`, 'latin1').includes(text);
    } catch {
      return false; // gone meanwhile
    }
  });
}
