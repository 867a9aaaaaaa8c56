/**
 * `npx qmpmux serve &` then `kill $!`: the shell's `$!` is npm's process (npm exec → sh → node), and
 * npm does not pass the signal on, so node and its managed QEMU would keep running. When qmpmux was
 * started by `npm exec`/`npx` (npm sets npm_command=exec), it watches that npm process and shuts
 * down, as on SIGTERM, once it is gone. Linux /proc; elsewhere (or when no npm ancestor is found)
 * nothing is watched.
 */
import { readFileSync } from 'node:fs';

/** How often the launcher's pid is checked. */
export const LAUNCHER_POLL_MS = 250;
/** How far up the process tree the npm process is looked for (npm → sh → node is 2). */
const MAX_DEPTH = 4;

function parentOf(pid: number): number | undefined {
  try {
    // /proc/PID/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isSafeInteger(ppid) && ppid > 1 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

function isNpm(pid: number): boolean {
  try {
    // npm sets its process title ("npm exec qmpmux serve …"), so the first word names it; without
    // that, it runs as `node …/npm-cli.js` (or npx-cli.js).
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
    const first = argv[0]!.split(' ')[0]!;
    return /(^|\/)np[mx]$/.test(first) || argv.slice(1, 2).some((a) => /(^|\/)np[mx]-cli\.js$/.test(a));
  } catch {
    return false;
  }
}

/** The pid of the npm process that launched this one, when `npm exec`/`npx` did. */
export function npmLauncher(env: NodeJS.ProcessEnv = process.env): number | undefined {
  if (env.npm_command !== 'exec') return undefined;
  let pid: number | undefined = process.ppid;
  for (let depth = 0; pid !== undefined && depth < MAX_DEPTH; depth++) {
    if (isNpm(pid)) return pid;
    pid = parentOf(pid);
  }
  return undefined;
}

/** Call `onGone` once the launcher process has exited; returns a function that stops watching. */
export function watchLauncher(pid: number, onGone: () => void): () => void {
  const timer = setInterval(() => {
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EPERM') return;
      clearInterval(timer);
      onGone();
    }
  }, LAUNCHER_POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
