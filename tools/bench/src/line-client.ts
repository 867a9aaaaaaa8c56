/** A minimal QMP line client for the benchmarks (QEMU and qmpmux both end every message with \r\n), and the latency figures they print. */
import net from 'node:net';
import { env } from './env.ts';

/** QEMU and qmpmux both end every message with \r\n. */
export class LineClient {
  private parts: Buffer[] = [];
  private waiters: ((line: string) => void)[] = [];
  lines: string[] = [];
  /** When set, every line goes here instead of to next(). */
  onLine?: (line: string) => void;

  constructor(readonly sock: net.Socket) {
    sock.setNoDelay(true);
    // Only the new chunk is searched for the line end: a 200 KB reply costs the client no more
    // than it must, so what is measured is the server.
    sock.on('data', (d: Buffer) => {
      let start = 0;
      for (;;) {
        const i = d.indexOf(10, start);
        if (i < 0) {
          if (start < d.length) this.parts.push(d.subarray(start));
          return;
        }
        this.parts.push(d.subarray(start, i));
        start = i + 1;
        const line = (this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts)).toString('latin1');
        this.parts = [];
        if (this.onLine) this.onLine(line);
        else {
          const w = this.waiters.shift();
          if (w) w(line);
          else this.lines.push(line);
        }
      }
    });
  }

  /** Connect, read the greeting and (by default) negotiate. */
  static async open(path: string, negotiate = true): Promise<LineClient> {
    const sock = net.connect(path);
    await new Promise((r, j) => sock.once('connect', r).once('error', j));
    const c = new LineClient(sock);
    await c.next(); // greeting
    if (negotiate) {
      c.send('{"execute":"qmp_capabilities"}');
      await c.next();
    }
    return c;
  }

  next(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((r) => this.waiters.push(r));
  }

  send(s: string): void {
    this.sock.write(s);
  }

  /** Read and drop everything from now on, at the least cost (no line splitting). */
  drain(): void {
    this.sock.removeAllListeners('data');
    this.sock.on('data', () => {});
  }

  close(): void {
    this.sock.destroy();
  }
}

export interface Percentiles {
  p50: number;
  p99: number;
  /** Every sample, sorted (µs). */
  sorted: number[];
}

/** The p-th percentile of sorted samples. */
export function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The middle value (the upper one of an even count). */
export function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

export function percentiles(samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: pct(sorted, 50), p99: pct(sorted, 99), sorted };
}

/** `n` sequential commands on one connection, after `warmup` unmeasured ones; latencies in µs. */
export async function sequential(path: string, n: number, warmup: number, command = 'query-status'): Promise<Percentiles> {
  const c = await LineClient.open(path);
  for (let i = 0; i < warmup; i++) (c.send(`{"execute":"${command}","id":${i}}`), await c.next());
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    c.send(`{"execute":"${command}","id":${i}}`);
    await c.next();
    t.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  c.close();
  return percentiles(t);
}

/**
 * `n` commands on each of two connections, in alternating blocks of `block` (a × block, b × block, …),
 * each timed: whatever the machine is doing hits both alike, so their ratio holds on a noisy, shared
 * box, while within a block each path runs back to back as a lone client's would (alternating single
 * commands would let every process go idle between its turns, which costs a wake-up on a VM).
 * `warmup` unmeasured commands on each first (0: the first command measured is the first sent).
 */
export async function paired(a: string, b: string, n: number, warmup: number, block = BLOCK, command = 'query-status'): Promise<[Percentiles, Percentiles]> {
  const cb = await LineClient.open(b);
  const ca = await LineClient.open(a);
  const ta: number[] = [];
  const tb: number[] = [];
  let id = 0;
  const run = async (c: LineClient, count: number, into?: number[]) => {
    for (let i = 0; i < count; i++) {
      const t0 = process.hrtime.bigint();
      c.send(`{"execute":"${command}","id":${id++}}`);
      await c.next();
      into?.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
  };
  await run(cb, warmup);
  await run(ca, warmup);
  for (let done = 0; done < n; done += block) {
    const k = Math.min(block, n - done);
    await run(cb, k, tb);
    await run(ca, k, ta);
  }
  ca.close();
  cb.close();
  return [percentiles(ta), percentiles(tb)];
}

/** Commands per block in `paired` (BENCH_BLOCK). */
export const BLOCK = env('BENCH_BLOCK', 100);

/** min–max of a list, formatted. */
export function range(values: number[], digits = 1): string {
  const lo = Math.min(...values).toFixed(digits);
  const hi = Math.max(...values).toFixed(digits);
  return lo === hi ? lo : `${lo}–${hi}`;
}
