/**
 * Benchmark instrumentation, preloaded into the qmpmux process under test (node --expose-gc
 * --require …): on SIGUSR2, collect garbage and write process.memoryUsage() as JSON to
 * $BENCH_MEM_FILE, so memory figures compare live data, not whatever garbage V8 had not yet collected.
 */
'use strict';
const { writeFileSync } = require('node:fs');
process.on('SIGUSR2', () => {
  global.gc?.();
  global.gc?.();
  if (process.env.BENCH_MEM_FILE) writeFileSync(process.env.BENCH_MEM_FILE, JSON.stringify(process.memoryUsage()));
});
