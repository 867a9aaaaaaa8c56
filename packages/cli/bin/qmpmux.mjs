#!/usr/bin/env node
// qmpmux runs its TypeScript directly through tsx: no build step.
import { register } from 'tsx/esm/api';
// `qmpmux events … | head -1`: once the reader is gone, stop quietly, with the status of a process
// killed by SIGPIPE (as any Unix tool), not a stack trace (Node ignores SIGPIPE, writes get EPIPE).
process.stdout.on('error', (e) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(128 + 13);
});
register();
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
