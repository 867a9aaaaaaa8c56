/**
 * Wait until a condition holds (polled), or fail after `ms` naming what was awaited (`what` may be a
 * function, read then: e.g. a log so far). Not a timed assertion: the bound only ends a hang — also
 * a hang of the condition itself (an asynchronous `pred` that never settles fails at the deadline).
 */
import { setTimeout as sleep } from 'node:timers/promises';

export async function until(pred: () => boolean | Promise<boolean>, what: string | (() => string), ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  const late = () => new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((resolve) => (timer = setTimeout(() => resolve('expired'), Math.max(0, deadline - Date.now()))));
    try {
      const held = await Promise.race([Promise.resolve(pred()), expired]);
      if (held === 'expired') throw late();
      if (held) return;
    } finally {
      clearTimeout(timer);
    }
    if (Date.now() > deadline) throw late();
    await sleep(50);
  }
}
