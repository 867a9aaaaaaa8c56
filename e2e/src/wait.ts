import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Poll `pred` until it holds; throw `timed out waiting for WHAT` after `ms` (`what` may be a function,
 * read then: e.g. a log so far). Not a timed assertion: the bound only ends a hang.
 */
export async function waitFor(pred: () => boolean, what: string | (() => string), ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await sleep(20);
  }
}
