/**
 * Benchmark instrumentation, preloaded into the qmpmux process under test (node --expose-gc
 * --require …): on SIGUSR2, collect garbage and write process.memoryUsage() as JSON to
 * $BENCH_MEM_FILE, so memory figures compare live data, not whatever garbage V8 had not yet collected;
 * with it, the event loop's delay since the previous signal (p50/p99/max in µs, sampled by a 1 ms
 * timer, so 1000 µs is no delay at all: how late the loop came round) and the process's CPU time since then.
 *
 * Worker threads (`"threads"`, the audit shipping thread) load this too (a preload runs in every
 * thread); signals reach only the main thread, so it asks them over a BroadcastChannel to collect
 * theirs as well, and waits for their answers (at most WORKER_WAIT_MS): `heapUsed` is then every
 * thread's heap in use, `threads` how many answered.
 */
'use strict';
const { writeFileSync } = require('node:fs');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { BroadcastChannel, isMainThread } = require('node:worker_threads');

const WORKER_WAIT_MS = 2000;
const channel = new BroadcastChannel('qmpmux-bench-gc');
channel.unref();

if (!isMainThread) {
  channel.onmessage = ({ data }) => {
    if (data.ask === undefined) return;
    global.gc?.();
    global.gc?.();
    channel.postMessage({ answer: data.ask, heapUsed: process.memoryUsage().heapUsed });
  };
  channel.postMessage({ hello: true });
} else {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  let cpu = process.cpuUsage();
  let since = process.hrtime.bigint();
  let workers = 0;
  let asked = 0;
  let waiting;
  channel.onmessage = ({ data }) => {
    if (data.hello) workers++;
    else if (waiting && data.answer === asked) waiting.add(data.heapUsed);
  };
  /** Every worker's heap in use after its GC (those that answer within WORKER_WAIT_MS). */
  const workerHeaps = () =>
    new Promise((resolve) => {
      const got = [];
      const done = () => {
        clearTimeout(timer);
        waiting = undefined;
        resolve(got);
      };
      const timer = setTimeout(done, WORKER_WAIT_MS);
      waiting = { add: (h) => (got.push(h), got.length >= workers && done()) };
      if (!workers) return done();
      channel.postMessage({ ask: ++asked });
    });
  process.on('SIGUSR2', async () => {
    const heaps = await workerHeaps();
    global.gc?.();
    global.gc?.();
    const used = process.cpuUsage(cpu);
    const wall = Number(process.hrtime.bigint() - since) / 1000;
    const own = process.memoryUsage();
    const out = { ...own, heapUsed: own.heapUsed + heaps.reduce((a, b) => a + b, 0), threads: heaps.length, loopP50: loop.percentile(50) / 1000, loopP99: loop.percentile(99) / 1000, loopMax: loop.max / 1000, cpuShare: (used.user + used.system) / wall };
    cpu = process.cpuUsage();
    since = process.hrtime.bigint();
    // The forced GC held the loop: reset once the first late tick has been recorded.
    loop.reset();
    setTimeout(() => loop.reset(), 5);
    if (process.env.BENCH_MEM_FILE) writeFileSync(process.env.BENCH_MEM_FILE, JSON.stringify(out));
  });
}
