/** Wait until a condition holds (polled), or fail after `ms` naming what was awaited. */
import { setTimeout as sleep } from 'node:timers/promises';

export async function until(pred: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
