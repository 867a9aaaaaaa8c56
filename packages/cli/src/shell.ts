/**
 * `qmpmux shell ADDRESS`: a QMP shell with QEMU's qmp-shell grammar (grammar.ts) and flags. Each line
 * is run by session.ts; on a terminal, terminal.ts adds the prompt, completion and history; from a
 * pipe, one reply per line and exit status 1 if any line failed. See docs/cli.md.
 */
import { createInterface } from 'node:readline';
import { appendFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { QmpClient, QmpError } from '@qmpmux/client';
import { checkAddress, parseArgs, UsageError } from './args.ts';
import { HISTORY_MAX } from './history.ts';
import { ShellSession } from './session.ts';
import { runTerminal } from './terminal.ts';

export { parseShellLine } from './grammar.ts';
export { completeCommand } from './complete.ts';
export { HISTORY_MAX } from './history.ts';

export const SHELL_USAGE = `usage: qmpmux shell [-H] [-p] [-v] [-N] [-l FILE] [--history FILE] ADDRESS
A QMP shell with QEMU's qmp-shell grammar and flags. ADDRESS: unix:PATH, tcp:HOST:PORT,
ws://HOST:PORT/PATH or wss://… (a bearer token from $QMPMUX_TOKEN).
  -H, --hmp               HMP mode: each line is an HMP command, the output is HMP's text
  -p, --pretty            pretty-print replies and events (indented JSON)
  -v, --verbose           print each QMP command before it is sent
  -l, --logfile FILE      append the traffic to FILE: "> " + each command sent, "< " + each reply
                          and event received
  -N, --skip-negotiation  do not send qmp_capabilities (type it yourself)
      --history FILE      history file (default $QMPMUX_HISTORY or ~/.qmpmux_history): the newest
                          ${HISTORY_MAX} lines; a line typed with a leading space is not saved
Lines:
  query-status                                 a command
  device_del id=net0                           key=value: an integer, true/false, JSON when it
  blockdev-add driver=null-co node-name=n0     starts with { or [, else a string
  human-monitor-command command-line="info version"           '…' or "…" hold spaces
  blockdev-add driver=file node-name=f0 filename=/tmp/f0 cache.direct=false   dotted keys nest
  transaction(                                 one transaction command: an action per line,
  block-dirty-bitmap-add node=n0 name=b0       and ) sends them
  block-dirty-bitmap-add node=n0 name=b1
  )
  {"execute": "query-name"}                    JSON, sent as typed
On a terminal: Tab completes command names (only those this principal may run), argument names
(key= for a value, key. for an object's members) and enum values, or with -H HMP's commands; Up and
Down recall history, also of earlier sessions; events are printed as they arrive, above the line
being typed; Ctrl-C drops the line (and an open transaction), or leaves (exit 130) while a command
waits for its reply; Ctrl-D leaves (exit 0); exit 1 if the connection closes.
From a pipe: one reply per line (events as they arrive); exit 1 if any line failed (a QMP error, a
line that does not parse, the connection closing), else 0. With -H, HMP reports its errors as text:
only QMP errors count.
Examples:
  qmpmux shell unix:/run/qmpmux/vm1.sock
  echo query-status | qmpmux shell tcp:127.0.0.1:4445
  echo 'info version' | qmpmux shell -H unix:/run/qmpmux/vm1.sock
  qmpmux shell -p -v -l qmp.log unix:/run/qmpmux/vm1.sock`;

export async function shell(argv: string[]): Promise<number> {
  const { opts, rest } = parseArgs(argv, {
    values: ['logfile', 'history'],
    bools: ['hmp', 'pretty', 'verbose', 'skip-negotiation'],
    short: { H: 'hmp', p: 'pretty', v: 'verbose', N: 'skip-negotiation', l: 'logfile' },
  });
  const address = checkAddress(rest[0]);
  if (rest.length > 1) throw new UsageError(`unexpected argument '${rest[1]}'`);
  const logfile = opts.logfile as string | undefined;
  if (logfile !== undefined) {
    try {
      appendFileSync(logfile, '');
    } catch (e) {
      throw new UsageError(`--logfile: cannot write ${logfile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const negotiate = opts['skip-negotiation'] !== true;
  const token = process.env.QMPMUX_TOKEN;
  let qmp: QmpClient;
  try {
    // Negotiated below, once the session listens: an event right after negotiation is not lost.
    qmp = await QmpClient.connect(address, { negotiate: false, websocket: token ? { token } : undefined });
  } catch (e) {
    // Refused before the greeting (qmpmux: no principal, QEMU unavailable): say why.
    const why = e instanceof QmpError ? e.desc : (e as Error).message;
    process.stderr.write(`qmpmux shell: cannot connect to ${address}: ${why}\n`);
    return 1;
  }
  const hmp = opts.hmp === true;
  const session = new ShellSession(qmp, { hmp, pretty: opts.pretty === true, verbose: opts.verbose === true, logfile });
  try {
    if (negotiate) {
      try {
        await session.negotiate();
      } catch (e) {
        process.stderr.write(`qmpmux shell: ${address}: qmp_capabilities: ${e instanceof QmpError ? e.desc : (e as Error).message}\n`);
        return 1;
      }
    }
    if (process.stdin.isTTY && process.stdout.isTTY) {
      const historyFile = (opts.history as string | undefined) ?? process.env.QMPMUX_HISTORY ?? join(homedir(), '.qmpmux_history');
      return await runTerminal(qmp, session, { hmp, historyFile, negotiated: negotiate, address });
    }
    return await runPiped(session, address);
  } finally {
    qmp.close();
  }
}

/** stdin is not a terminal: each line is run in turn, its replies printed; 1 if any line failed. */
async function runPiped(session: ShellSession, address: string): Promise<number> {
  const rl = createInterface({ input: process.stdin, terminal: false });
  // Closed while waiting for input (`tail -f cmds | qmpmux shell …`): stop reading.
  session.onClose = () => rl.close();
  for await (const line of rl) {
    await session.run(line);
    if (session.closed) break;
  }
  rl.close();
  if (session.closed) {
    process.stderr.write(`qmpmux shell: connection to ${address} closed\n`);
    return 1;
  }
  if (session.parser.inTransaction) {
    process.stderr.write('qmpmux shell: input ended inside transaction( … ): not sent\n');
    return 1;
  }
  return session.failed ? 1 : 0;
}
