/**
 * Benchmark instrumentation, preloaded into the qmpmux process under test (node --expose-gc
 * --require …): on SIGUSR2, collect garbage and write process.memoryUsage() as JSON to
 * $BENCH_MEM_FILE, so memory figures compare live data, not whatever garbage V8 had not yet collected;
 * with it, the event loop's delay since the previous signal (p50/p99/max in µs, sampled by a 1 ms
 * timer, so 1000 µs is no delay at all: how late the loop came round) and the process's CPU time since then.
 */
'use strict';
const { writeFileSync } = require('node:fs');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
let cpu = process.cpuUsage();
let since = process.hrtime.bigint();
process.on('SIGUSR2', () => {
  global.gc?.();
  global.gc?.();
  const used = process.cpuUsage(cpu);
  const wall = Number(process.hrtime.bigint() - since) / 1000;
  const out = { ...process.memoryUsage(), loopP50: loop.percentile(50) / 1000, loopP99: loop.percentile(99) / 1000, loopMax: loop.max / 1000, cpuShare: (used.user + used.system) / wall };
  cpu = process.cpuUsage();
  since = process.hrtime.bigint();
  // The forced GC held the loop: reset once the first late tick has been recorded.
  loop.reset();
  setTimeout(() => loop.reset(), 5);
  if (process.env.BENCH_MEM_FILE) writeFileSync(process.env.BENCH_MEM_FILE, JSON.stringify(out));
});
