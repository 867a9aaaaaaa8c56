/** Run the qmpmux command as a real process, its stdin and stdout pipes (not a terminal). */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = resolve(fileURLToPath(import.meta.url), '../../bin/qmpmux.mjs');

export interface CliResult {
  code: number | null;
  out: string;
  err: string;
}

/** `qmpmux ARGS`, with `input` on stdin (then EOF); resolves when it exits. */
export function runCli(args: string[], input = '', env: NodeJS.ProcessEnv = process.env): Promise<CliResult> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env });
    setTimeout(() => p.kill('SIGKILL'), 60_000).unref(); // a guard: the test then fails, not hangs
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => res({ code, out, err }));
    p.stdin.on('error', () => {}); // it may exit before reading everything
    p.stdin.end(input);
  });
}

/** A user error or a failure is reported without a stack trace. */
export const STACK_LINE = /^\s{4}at /m;
