import { readdirSync } from 'node:fs';

/** Entries in /proc/PID/fd: the open-fd count of a process (leak checks). */
export function openFdCount(pid: number | 'self' = 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The fd-passing cycles of the leak tests: getfd/closefd and add-fd/remove-fd in turn, each with a fresh pipe. */
export async function fdPassingCycles(
  c: { execute<T = unknown>(cmd: string, args?: Record<string, unknown>, opts?: { fds?: number[] }): Promise<T> },
  n: number,
  fdsetIds: readonly number[],
): Promise<void> {
  const { pipe, closeFd } = await import('@qmpmux/unixfd');
  for (let i = 0; i < n; i++) {
    const [r, w] = pipe();
    closeFd(r);
    if (i % 2) {
      await c.execute('getfd', { fdname: `n${i % 7}` }, { fds: [w] });
      await c.execute('closefd', { fdname: `n${i % 7}` });
    } else {
      const set = fdsetIds[i % fdsetIds.length]!;
      const ret = await c.execute<{ fd: number }>('add-fd', { 'fdset-id': set }, { fds: [w] });
      await c.execute('remove-fd', { 'fdset-id': set, fd: ret.fd });
    }
  }
}
