/** Closing received file descriptors: one helper for every transport and their users. */
import { closeFd } from '@qmpmux/unixfd';

/** Close every fd in the list (already-closed ones are ignored) and empty the list. */
export function closeFds(fds: number[] | undefined): void {
  if (!fds) return;
  for (const fd of fds) closeFd(fd);
  fds.length = 0;
}
