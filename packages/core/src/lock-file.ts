/**
 * One writing process per file: the lock file every plugin with state on disk takes (event-replay's
 * journal, hmp-audit's log). The file holds the owner's pid, created exclusively with mode 0600.
 * Opening the same thing twice in one process is refused; a lock held by a live process is refused,
 * naming it; a lock left by a process that is gone (or by this process, from an instance that never
 * closed) is taken over.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';

export class LockFileError extends Error {
  constructor(
    message: string,
    /** The pid holding it, when another live process does. */
    readonly holder?: number,
  ) {
    super(message);
  }
}

const heldHere = new Set<string>();

/** Take `file` for `what` (e.g. "the audit log /var/log/x"); returns the release function. */
export function acquireLockFile(file: string, what: string): () => void {
  if (heldHere.has(file)) throw new LockFileError(`${what} is already open in this process`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      heldHere.add(file);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        heldHere.delete(file);
        try {
          unlinkSync(file);
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let pid = NaN;
    try {
      pid = parseInt(readFileSync(file, 'latin1'), 10);
    } catch {
      /* vanished or unreadable: stale */
    }
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      throw new LockFileError(`${what} is in use by process ${pid} (remove ${file} if that is wrong)`, pid);
    }
    try {
      unlinkSync(file);
    } catch {
      /* raced with another taker: the retry decides */
    }
  }
  throw new LockFileError(`${what}: cannot take ${file}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
