#!/usr/bin/env node
// qmpmux runs its TypeScript directly through tsx: no build step.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
