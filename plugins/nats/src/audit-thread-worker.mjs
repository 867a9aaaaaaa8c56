// The audit shipping thread's entry (audit-thread.ts): qmpmux runs its TypeScript through tsx, with no
// build step, in this thread too.
import { register } from 'tsx/esm/api';
register();
await import('./audit-thread-worker.ts');
