import { readdirSync } from 'node:fs';

/** Entries in /proc/PID/fd: the open-fd count of a process (leak checks). */
export function openFdCount(pid: number | 'self' = 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}
