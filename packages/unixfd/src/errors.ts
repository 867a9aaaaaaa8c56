import { getSystemErrorName } from 'node:util';

export interface ErrnoError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
}

/** Builds a Node-style system error from a positive errno (native calls return it negated). */
export function errnoError(errno: number, syscall: string, path?: string): ErrnoError {
  let code: string;
  try {
    code = getSystemErrorName(-errno);
  } catch {
    code = `E${errno}`;
  }
  const err = new Error(`${syscall} ${code}${path === undefined ? '' : ` ${path}`}`) as ErrnoError;
  err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  return err;
}
