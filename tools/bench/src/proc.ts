/** What a process costs, read from /proc (Linux), and raising this process's fd limit. */
import { readFileSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

/** Resident set size in bytes (VmRSS). */
export function rss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** User + system CPU time of a process in ms (clock ticks of 10 ms). */
export function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** Open file descriptors. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export function softNofile(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

/**
 * Make sure this process (and the children it spawns) may open `n` fds: when the soft limit is lower,
 * run this same command again under `prlimit --nofile=n:n` (root may raise the hard limit too) and
 * exit with its status. Returns when the limit is already enough.
 */
export function ensureNofile(n: number): void {
  if (softNofile() >= n) return;
  if (process.env.BENCH_NOFILE_RAISED) throw new Error(`could not raise the fd limit to ${n} (now ${softNofile()})`);
  const r = spawnSync('prlimit', [`--nofile=${n}:${n}`, '--', process.execPath, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, BENCH_NOFILE_RAISED: '1' } });
  if (r.error) throw new Error(`prlimit: ${r.error.message} (raise the fd limit to ${n} by hand: ulimit -n ${n})`);
  process.exit(r.status ?? 1);
}

export const MiB = 1024 * 1024;
