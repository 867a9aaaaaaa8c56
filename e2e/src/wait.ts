import { setTimeout as sleep } from 'node:timers/promises';

/** Poll `pred` until it holds; throw `timed out waiting for WHAT` after `ms`. Not a timed assertion: the bound only ends a hang. */
export async function waitFor(pred: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
