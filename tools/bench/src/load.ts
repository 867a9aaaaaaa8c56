/** Load shapes: many clients pipelining, event fan-out, many clients polling on a timer. */
import { setTimeout as sleep } from 'node:timers/promises';
import { LineClient, percentiles, type Percentiles } from './line-client.ts';

/** `clients` clients, each keeping `window` commands outstanding, `total` commands in all; commands/s. */
export async function throughput(path: string, clients: number, window: number, total: number): Promise<number> {
  const cs = await Promise.all(Array.from({ length: clients }, () => LineClient.open(path)));
  const per = Math.floor(total / clients);
  const t0 = process.hrtime.bigint();
  await Promise.all(
    cs.map(async (c) => {
      let sent = 0;
      let done = 0;
      await new Promise<void>((resolveAll) => {
        c.onLine = () => {
          done++;
          if (sent < per) c.send(`{"execute":"query-status","id":${sent++}}`);
          if (done === per) resolveAll();
        };
        while (sent < Math.min(window, per)) c.send(`{"execute":"query-status","id":${sent++}}`);
      });
    }),
  );
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const c of cs) c.close();
  return (per * clients) / secs;
}

/** Median time (µs) for a STOP event, caused through `trigger`, to reach the last of `n` clients on `path`. */
export async function fanout(path: string, n: number, trigger: string): Promise<number> {
  const cs = await Promise.all(Array.from({ length: n }, () => LineClient.open(path)));
  const ctl = await LineClient.open(trigger);
  const samples: number[] = [];
  for (let round = 0; round < 5; round++) {
    let left = n;
    const done = new Promise<void>((r) => {
      for (const c of cs)
        c.onLine = (l) => {
          if (l.includes('"event": "STOP"') && --left === 0) r();
        };
    });
    const t0 = process.hrtime.bigint();
    ctl.send('{"execute":"stop"}');
    await done;
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
    await ctl.next();
    ctl.send('{"execute":"cont"}');
    await sleep(50);
    ctl.lines.length = 0;
  }
  for (const c of [...cs, ctl]) c.close();
  return percentiles(samples).p50;
}

export interface PollResult {
  /** Replies received by the clients, per second. */
  perSecond: number;
  latency: Percentiles;
}

/**
 * `clients` clients, each sending `command` every `everyMs` (a poll is skipped while the previous one
 * is unanswered), for `seconds`.
 */
export async function pollers(path: string, clients: number, everyMs: number, seconds: number, command = 'query-status'): Promise<PollResult> {
  const cs = await Promise.all(Array.from({ length: clients }, () => LineClient.open(path)));
  const samples: number[] = [];
  let replies = 0;
  let stopped = false;
  const timers = cs.map((c, i) => {
    let sentAt: bigint | undefined;
    let id = 0;
    c.onLine = () => {
      if (sentAt === undefined) return;
      if (!stopped) {
        samples.push(Number(process.hrtime.bigint() - sentAt) / 1000);
        replies++;
      }
      sentAt = undefined;
    };
    const poll = () => {
      if (sentAt !== undefined || stopped) return;
      sentAt = process.hrtime.bigint();
      c.send(`{"execute":"${command}","id":${id++}}`);
    };
    // Spread the clients over the period, as independent dashboards would be.
    let t: NodeJS.Timeout | undefined;
    const start = setTimeout(() => ((t = setInterval(poll, everyMs)), poll()), (i * everyMs) / clients);
    return () => (clearTimeout(start), clearInterval(t));
  });
  const t0 = process.hrtime.bigint();
  await sleep(seconds * 1000);
  stopped = true;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const stop of timers) stop();
  await sleep(50);
  for (const c of cs) c.close();
  return { perSecond: replies / secs, latency: percentiles(samples.length ? samples : [0]) };
}
