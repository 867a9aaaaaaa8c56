/** `qmpmux events ADDRESS`: print QEMU's events as they arrive, like `virsh qemu-monitor-event`. */
import { checkAddress, numberOpt, parseArgs, UsageError } from './args.ts';
import { CliFailure, connectCli } from './connect.ts';
import type { JsonPlain } from '@qmpmux/protocol';

export const EVENTS_USAGE = `usage: qmpmux events [--event NAME]... [--regex] [--timestamp] [--pretty] [--count N]
                     [--timeout S] [--replay] ADDRESS
Print QEMU's events as they arrive (one JSON line each, QEMU's own bytes), like virsh
qemu-monitor-event. ADDRESS: unix:PATH, tcp:HOST:PORT, ws://HOST:PORT/PATH or wss://….
  --event NAME   only this event (repeatable); with --regex, NAME is a JavaScript regular expression
  --regex        treat each --event as a regular expression (matched anywhere in the name)
  --timestamp    prefix each event with its QEMU timestamp (ISO 8601, UTC)
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

  const qmp = await connectCli(address, 'qmpmux events');
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
  if (opts.replay) {
    const cmds = await qmp.execute('query-commands');
    const replay = cmds.find((c) => /^__org\.qmpmux_replay-events$/.test(c.name));
    if (!replay) {
      qmp.close();
      throw new CliFailure(`qmpmux events: --replay: ${address} has no __org.qmpmux_replay-events (the event-replay plugin is not enabled, or this principal may not run it)`);
    }
    // The held events are written before the reply, so they print before any live one.
    await qmp.execute(replay.name as never, (names.length && !opts.regex ? { names } : {}) as never);
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

/**
 * One event as `qmpmux events` (and `qmpmux fleet events`) prints it: QEMU's own line, or indented
 * JSON (pretty), after an optional label (`vm1: `) and QEMU's timestamp (ISO 8601, UTC).
 */
export function formatEvent(value: Record<string, JsonPlain>, raw: string, o: { pretty: boolean; timestamp: boolean; label?: string }): string {
  let text = o.pretty ? JSON.stringify(value, null, 4) : raw;
  if (o.label !== undefined) text = `${o.label}: ${text}`;
  if (o.timestamp) {
    const ts = value.timestamp as { seconds: number; microseconds: number } | undefined;
    const when = ts ? new Date(ts.seconds * 1000 + Math.floor(ts.microseconds / 1000)).toISOString() : new Date().toISOString();
    text = `${when}: ${text}`;
  }
  return text;
}
