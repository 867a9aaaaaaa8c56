/**
 * Wait until a condition holds (polled), or fail after `ms` naming what was awaited (`what` may be a
 * function, read then: e.g. a log so far). Not a timed assertion: the bound only ends a hang.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export async function until(pred: () => boolean | Promise<boolean>, what: string | (() => string), ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await sleep(50);
  }
}
