/** `qmpmux events ADDRESS`: print QEMU's events as they arrive, like `virsh qemu-monitor-event`. */
import { checkAddress, numberOpt, parseArgs, UsageError } from './args.ts';
import { CliFailure, connectCli } from './connect.ts';
import type { JsonPlain } from '@qmpmux/protocol';
import { QmpError } from '@qmpmux/client';
import { COMMAND_PREFIX } from '@qmpmux/core';

export const EVENTS_USAGE = `usage: qmpmux events [--event NAME]... [--regex] [--timestamp] [--pretty] [--count N]
                     [--timeout S] [--replay] ADDRESS
Print QEMU's events as they arrive (one JSON line each, QEMU's own bytes), like virsh
qemu-monitor-event. ADDRESS: unix:PATH, tcp:HOST:PORT, ws://HOST:PORT/PATH or wss://….
  --event NAME   only this event (repeatable); with --regex, NAME is a JavaScript regular expression
  --regex        treat each --event as a regular expression (matched anywhere in the name)
  --timestamp    prefix each event with its QEMU timestamp (ISO 8601, UTC, microseconds)
  --pretty       pretty-print each event (indented JSON)
  --count N      exit 0 after N events
  --timeout S    exit 0 after S seconds (a fraction is fine)
  --replay       first print the events qmpmux holds (event-replay plugin), then the live ones
Exit status: 0 after --count/--timeout or Ctrl-C, 1 if the connection closes or fails, 2 usage.
Examples:
  qmpmux events unix:/run/qmpmux/vm1.sock --event SHUTDOWN --count 1
  qmpmux events tcp:127.0.0.1:4445 --event 'BLOCK_JOB_.*' --regex --timestamp
  qmpmux events unix:/run/qmpmux/vm1.sock --replay --timeout 0`;

export async function events(argv: string[]): Promise<number> {
  const { opts, rest } = parseArgs(argv, { values: ['count', 'timeout'], repeat: ['event'], bools: ['regex', 'timestamp', 'pretty', 'replay'] });
  const address = checkAddress(rest[0]);
  if (rest.length > 1) throw new UsageError(`unexpected argument '${rest[1]}'`);
  const count = numberOpt(opts, 'count', true);
  const timeout = numberOpt(opts, 'timeout', false);
  const names = (opts.event as string[] | undefined) ?? [];
  let match: (name: string) => boolean = () => true;
  if (names.length && opts.regex) {
    const res = names.map((n) => {
      try {
        return new RegExp(n);
      } catch (e) {
        throw new UsageError(`--event '${n}' is not a regular expression: ${(e as Error).message}`);
      }
    });
    match = (name) => res.some((r) => r.test(name));
  } else if (names.length) match = (name) => names.includes(name);
  else if (opts.regex) throw new UsageError('--regex needs --event');

  // Listen before negotiating: an event right after qmp_capabilities is not lost.
  const qmp = await connectCli(address, 'qmpmux events', false);
  let seen = 0;
  let finish!: (code: number) => void;
  const done = new Promise<number>((r) => (finish = r));
  if (count === 0) finish(0);
  const print = (value: Record<string, JsonPlain>, raw: string) => {
    if (!match(String(value.event))) return;
    if (count !== undefined && seen >= count) return;
    seen++;
    process.stdout.write(formatEvent(value, raw, { pretty: opts.pretty === true, timestamp: opts.timestamp === true }) + '\n');
    if (count !== undefined && seen >= count) finish(0);
  };
  qmp.messages$.subscribe({
    next: (m) => {
      const v = m.value as Record<string, JsonPlain>;
      if ('event' in v) print(v, m.raw.toString('utf8'));
    },
    complete: () => finish(1),
  });
  try {
    await qmp.execute('qmp_capabilities');
  } catch (e) {
    qmp.close();
    throw new CliFailure(`qmpmux events: ${address}: qmp_capabilities: ${e instanceof QmpError ? e.desc : (e as Error).message}`);
  }
  if (opts.replay) {
    // The held events are written before the reply, so they print before any live one.
    const replay = `${COMMAND_PREFIX}replay-events`;
    try {
      await qmp.execute(replay as never, (names.length && !opts.regex ? { names } : {}) as never);
    } catch (e) {
      qmp.close();
      const why = e instanceof QmpError && e.cls === 'CommandNotFound' ? `${address} has no ${replay} (is the event-replay plugin enabled?)` : `${replay}: ${e instanceof QmpError ? e.desc : (e as Error).message}`;
      throw new CliFailure(`qmpmux events: --replay: ${why}`);
    }
  }
  const timer = timeout !== undefined ? setTimeout(() => finish(0), timeout * 1000) : undefined;
  const onSig = () => finish(0);
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  const code = await done;
  clearTimeout(timer);
  process.off('SIGINT', onSig);
  process.off('SIGTERM', onSig);
  const wasClosed = qmp.closed;
  qmp.close();
  if (code === 1 && wasClosed) process.stderr.write(`qmpmux events: connection to ${address} closed\n`);
  return code;
}

/** QEMU's event timestamp as ISO 8601 UTC with its microseconds; now when QEMU could not read its clock (-1). */
export function isoTimestamp(ts: JsonPlain | undefined): string {
  const t = ts as { seconds?: unknown; microseconds?: unknown } | undefined;
  if (typeof t?.seconds !== 'number' || typeof t.microseconds !== 'number' || t.seconds < 0 || t.microseconds < 0) return new Date().toISOString();
  return new Date(t.seconds * 1000).toISOString().replace(/\.\d{3}Z$/, `.${String(t.microseconds).padStart(6, '0')}Z`);
}

/**
 * One event as `qmpmux events` (and `qmpmux fleet events`) prints it: QEMU's own line, or indented
 * JSON (pretty), after an optional label (`vm1: `) and QEMU's timestamp (ISO 8601, UTC, microseconds).
 */
export function formatEvent(value: Record<string, JsonPlain>, raw: string, o: { pretty: boolean; timestamp: boolean; label?: string }): string {
  let text = o.pretty ? JSON.stringify(value, null, 4) : raw;
  if (o.label !== undefined) text = `${o.label}: ${text}`;
  if (o.timestamp) text = `${isoTimestamp(value.timestamp)}: ${text}`;
  return text;
}
