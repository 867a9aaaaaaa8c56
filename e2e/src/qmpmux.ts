/**
 * The qmpmux command of this checkout as a child process, for tests and benchmarks: run it to its end
 * (runQmpmux), or start it and wait until it is ready (spawnQmpmux). The harness spawns the command and
 * never imports it: e2e stays below packages/cli.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopProcess } from './child.ts';

/** `packages/cli/bin/qmpmux.mjs` of this checkout (run it with `process.execPath`). */
export const QMPMUX_BIN = resolve(import.meta.dirname, '../../packages/cli/bin/qmpmux.mjs');

/** A line of a stack trace: qmpmux reports a user error or a failure without one. */
export const STACK_LINE = /^\s{4}at /m;

export interface QmpmuxRunOptions {
  /** Written to its stdin, then EOF (default: EOF at once). */
  input?: string;
  /** Added to this process's environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** SIGKILL after this long (default 60 s): a guard, so that a test fails rather than hangs. */
  timeoutMs?: number;
}

export interface QmpmuxResult {
  /** Its exit status; null when a signal ended it. */
  code: number | null;
  out: string;
  err: string;
}

/** `qmpmux ARGS` with its stdout and stderr collected; resolves when it exits. */
export function runQmpmux(args: readonly string[], opts: QmpmuxRunOptions = {}): Promise<QmpmuxResult> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [QMPMUX_BIN, ...args], { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    const guard = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    guard.unref();
    const out = collect(p.stdout);
    const err = collect(p.stderr);
    p.on('exit', (code) => {
      clearTimeout(guard);
      res({ code, out: out(), err: err() });
    });
    p.stdin.on('error', () => {}); // it may exit before reading everything
    p.stdin.end(opts.input ?? '');
  });
}

export interface QmpmuxSpawnOptions {
  /**
   * When it is ready: a pattern its log (stderr) matches, checked as the log comes; or a condition,
   * given its log so far and checked every 20 ms. Default: at once.
   */
  ready?: RegExp | ((log: string) => boolean | Promise<boolean>);
  /** How long it may take to be ready (default 30 s); then it is killed and the start fails with its log. */
  readyMs?: number;
  /** Added to this process's environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Node's flags, before the script (e.g. `--expose-gc`). */
  nodeArgs?: readonly string[];
  /** `pipe`: write to `child.stdin` (default `ignore`: it reads /dev/null). */
  stdin?: 'ignore' | 'pipe';
  /** `inherit`: its log goes to this process's stderr instead of being kept (`log()` is then ''). Default `keep`. */
  log?: 'keep' | 'inherit';
  /** Each whole line of its log as it comes (with `log: 'keep'`). */
  onLogLine?: (line: string) => void;
  /** SIGKILL after this long (default: never): a guard, so that a test fails rather than hangs. */
  killAfterMs?: number;
}

export interface QmpmuxProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** What it wrote to stdout so far. */
  out(): string;
  /** What it wrote to stderr (its log) so far. */
  log(): string;
  /** Its exit status once it has exited (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  /**
   * Wait until its log from offset `from` (default 0) on matches `re`, checked as the log comes; the
   * match. Fails, with the log, when it exits first or after `ms` (default 15 s).
   */
  waitForLog(re: RegExp, opts?: { from?: number; ms?: number }): Promise<RegExpExecArray>;
  /** Send `signal` (default SIGTERM) unless it has exited, and wait for the exit (SIGKILL after `graceMs`, default 30 s); its exit status. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

/** Start `qmpmux ARGS` and resolve once it is ready (see `ready`). */
export async function spawnQmpmux(args: readonly string[], opts: QmpmuxSpawnOptions = {}): Promise<QmpmuxProcess> {
  const keepLog = opts.log !== 'inherit';
  if (opts.ready instanceof RegExp && !keepLog) throw new TypeError("spawnQmpmux: a ready pattern needs log: 'keep'");
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), QMPMUX_BIN, ...args], {
    cwd: opts.cwd,
    stdio: [opts.stdin ?? 'ignore', 'pipe', keepLog ? 'pipe' : 'inherit'],
    env: { ...process.env, ...opts.env },
  });
  const guard = opts.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs);
  guard?.unref();
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      clearTimeout(guard);
      r(code);
    }),
  );
  /** Called on every piece of log and at the exit: what waits for the log looks again. */
  const watchers = new Set<() => void>();
  const wake = () => watchers.forEach((w) => w());
  void exited.then(wake);
  const out = collect(child.stdout!);
  const log = keepLog ? collect(child.stderr!, wake, opts.onLogLine) : () => '';
  const what = `qmpmux ${args.join(' ')}`;

  const waitForLog = (re: RegExp, o: { from?: number; ms?: number } = {}) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const look = () => {
        const m = re.exec(log().slice(o.from ?? 0));
        if (m) done(() => resolve(m));
        else if (child.exitCode !== null || child.signalCode !== null) done(() => reject(new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before its log matched ${re}; its log:\n${log()}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`${what}: its log did not match ${re} in ${o.ms ?? 15_000} ms; its log:\n${log()}`))), o.ms ?? 15_000);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        watchers.delete(look);
        settle();
      };
      watchers.add(look);
      look();
    });

  const p: QmpmuxProcess = { child, pid: child.pid!, out, log, exited, waitForLog, stop: (signal = 'SIGTERM', graceMs?: number) => stopProcess(child, signal, graceMs) };
  try {
    if (opts.ready instanceof RegExp) await waitForLog(opts.ready, { ms: opts.readyMs ?? 30_000 });
    else if (opts.ready) await poll(child, () => (opts.ready as (log: string) => boolean | Promise<boolean>)(log()), opts.readyMs ?? 30_000, what);
  } catch (e) {
    await stopProcess(child);
    throw new Error(`${(e as Error).message}${keepLog && !/its log:/.test((e as Error).message) ? `; its log:\n${log()}` : ''}`);
  }
  return p;
}

/** Check `ready` every 20 ms until it holds; fail when the process exits first or after `ms`. */
async function poll(child: ChildProcess, ready: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ready())) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before it was ready`);
    if (Date.now() > deadline) throw new Error(`${what} was not ready in ${ms} ms`);
    await sleep(20);
  }
}

/** Keep what a stream gives (as UTF-8 text); `onData` after each piece, `onLine` for each whole line. */
function collect(stream: NodeJS.ReadableStream, onData?: () => void, onLine?: (line: string) => void): () => string {
  let text = '';
  let lineStart = 0;
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => {
    text += d;
    if (onLine) {
      for (let i = text.indexOf('\n', lineStart); i >= 0; i = text.indexOf('\n', lineStart)) {
        onLine(text.slice(lineStart, i));
        lineStart = i + 1;
      }
    }
    onData?.();
  });
  return () => text;
}

/** Send SIGHUP to a `qmpmux serve` and wait for its verdict: the line that says whether the configuration was reloaded. */
export async function reloadServe(p: QmpmuxProcess): Promise<string> {
  const from = p.log().length;
  p.child.kill('SIGHUP');
  return (await p.waitForLog(/qmpmux (?:info|error) \[qmpmux\] SIGHUP: configuration [^\n]*\n/, { from }))[0];
}

/** HOST:PORT of a `qmpmux serve --http` (from its log line `metrics and health on http://HOST:PORT/metrics`). */
export function httpAddressOf(p: QmpmuxProcess): string {
  const m = /metrics and health on http:\/\/([^/]+)\/metrics/.exec(p.log());
  if (!m) throw new Error(`no metrics endpoint in its log:\n${p.log()}`);
  return m[1]!;
}
