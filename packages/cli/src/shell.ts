/**
 * `qmpmux shell ADDRESS`: an interactive QMP shell with QEMU's qmp-shell grammar and flags
 * (grammar.ts); completion from query-commands / query-qmp-schema (complete.ts). See docs/cli.md.
 */
import { createInterface } from 'node:readline';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { QmpClient, QmpError } from '@qmpmux/client';
import { serializeQemu, type JsonPlain } from '@qmpmux/protocol';
import { checkAddress, parseArgs, UsageError } from './args.ts';
import { ShellParser, type ShellCommand } from './grammar.ts';
import { Completer } from './complete.ts';

export { parseShellLine } from './grammar.ts';
export { completeCommand } from './complete.ts';

/** Lines of history kept (in memory and in the history file). */
export const HISTORY_MAX = 1000;

export const SHELL_USAGE = `usage: qmpmux shell [-H] [-p] [-v] [-N] [-l FILE] [--history FILE] ADDRESS
An interactive QMP shell with QEMU's qmp-shell grammar. ADDRESS: unix:PATH, tcp:HOST:PORT,
ws://HOST:PORT/PATH or wss://… (a bearer token from $QMPMUX_TOKEN).
  -H, --hmp               HMP mode: each line is an HMP command, the output is HMP's text
  -p, --pretty            pretty-print replies and events
  -v, --verbose           print each QMP command before it is sent
  -l, --logfile FILE      append all traffic to FILE ("> " sent, "< " received, one per line)
  -N, --skip-negotiation  do not send qmp_capabilities (type it yourself)
      --history FILE      history file (default $QMPMUX_HISTORY or ~/.qmpmux_history, ${HISTORY_MAX} lines)
Lines:
  query-status
  device_del id=net0
  human-monitor-command command-line="info version"
  blockdev-add driver=null-co node-name=n0 size=1048576
  transaction(
  block-dirty-bitmap-add node=n0 name=b0
  block-dirty-bitmap-add node=n0 name=b1
  )
  {"execute": "query-name"}
Examples:
  qmpmux shell unix:/run/qmpmux/vm1.sock
  echo query-status | qmpmux shell tcp:127.0.0.1:4445      # exit 1 if a command failed
  qmpmux shell -H unix:/run/qmpmux/vm1.sock                 # (HMP) info status
Tab completes command names (what this principal may run) and argument names; Ctrl-C cancels the
line (and an open transaction), Ctrl-D exits; events are printed as they arrive.`;

export async function shell(argv: string[]): Promise<number> {
  const { opts, rest } = parseArgs(argv, {
    values: ['logfile', 'history'],
    bools: ['hmp', 'pretty', 'verbose', 'skip-negotiation'],
    short: { H: 'hmp', p: 'pretty', v: 'verbose', N: 'skip-negotiation', l: 'logfile' },
  });
  const address = checkAddress(rest[0]);
  if (rest.length > 1) throw new UsageError(`unexpected argument '${rest[1]}'`);
  const hmp = opts.hmp === true;
  const pretty = opts.pretty === true;
  const verbose = opts.verbose === true;
  const negotiate = opts['skip-negotiation'] !== true;
  const logfile = opts.logfile as string | undefined;
  const historyFile = (opts.history as string | undefined) ?? process.env.QMPMUX_HISTORY ?? join(homedir(), '.qmpmux_history');
  const token = process.env.QMPMUX_TOKEN;
  const log = (dir: '>' | '<', text: string) => {
    if (logfile) appendFileSync(logfile, `${dir} ${text}\n`);
  };

  let qmp: QmpClient;
  try {
    qmp = await QmpClient.connect(address, { negotiate, websocket: token ? { token } : undefined });
  } catch (e) {
    // Refused before the greeting (qmpmux: no principal, QEMU unavailable): say why.
    const why = e instanceof QmpError ? e.desc : (e as Error).message;
    process.stderr.write(`qmpmux shell: cannot connect to ${address}: ${why}\n`);
    return 1;
  }
  const tty = process.stdin.isTTY === true;
  const v = qmp.greeting.QMP.version.qemu;
  const show = (value: JsonPlain, raw: string) => (pretty ? JSON.stringify(value, null, 4) : raw);

  let history: string[] = [];
  if (tty) {
    try {
      history = readFileSync(historyFile, 'utf8').split('\n').filter(Boolean).slice(-HISTORY_MAX).reverse();
    } catch {
      /* no history yet */
    }
  }
  const completer = new Completer();
  if (tty && negotiate && !hmp) await completer.load(qmp);
  const parser = new ShellParser();
  const prompt = () => (hmp ? '(HMP) ' : parser.inTransaction ? 'TRANS> ' : '(QEMU) ');
  const rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: tty,
    history,
    historySize: HISTORY_MAX,
    prompt: prompt(),
    completer: (line: string) => (hmp ? [[], line] : completer.complete(line, parser.inTransaction)),
  });
  const out = (s: string) => {
    if (tty) {
      // Print above the line being typed, then redraw it.
      process.stdout.write(`\r\x1b[K${s}\n`);
    } else process.stdout.write(s + '\n');
  };
  if (tty) {
    out(hmp ? `Welcome to the HMP shell (qmpmux)!\nConnected to QEMU ${v.major}.${v.minor}.${v.micro}\n` : `Welcome to the QMP low-level shell (qmpmux)!\nConnected to QEMU ${v.major}.${v.minor}.${v.micro}\n`);
    rl.on('history', (h: string[]) => {
      try {
        writeFileSync(historyFile, h.slice(0, HISTORY_MAX).reverse().join('\n') + '\n', { mode: 0o600 });
      } catch {
        /* an unwritable history file is not worth failing a shell over */
      }
    });
    // Ctrl-C: drop the line being typed (and a transaction being built), keep the shell.
    rl.on('SIGINT', () => {
      parser.reset();
      (rl as unknown as { line: string }).line = '';
      process.stdout.write('^C\n');
      rl.setPrompt(prompt());
      rl.prompt();
    });
  }

  let waiter: ((m: { raw: string; value: JsonPlain } | undefined) => void) | undefined;
  let closedFlag = false;
  qmp.messages$.subscribe({
    next: (m) => {
      const raw = m.raw.toString('utf8');
      log('<', raw);
      const value = m.value as Record<string, JsonPlain>;
      if ('event' in value) {
        out(show(m.value, raw));
        if (tty) rl.prompt(true);
        return;
      }
      const w = waiter;
      waiter = undefined;
      w?.({ raw, value: m.value });
    },
    complete: () => {
      closedFlag = true;
      waiter?.(undefined);
    },
  });

  let failed = 0;
  const run = async (line: string): Promise<void> => {
    let cmd: ShellCommand | undefined;
    if (hmp) {
      cmd = line.trim() ? { command: 'human-monitor-command', args: { 'command-line': line.trim() } } : undefined;
    } else {
      try {
        cmd = parser.parse(line);
      } catch (e) {
        failed++;
        return out(`Error while parsing command line: ${(e as Error).message}`);
      }
    }
    if (!cmd) return;
    // Like qmp-shell: commands go without an id, and the reply is printed exactly as received.
    const text = 'raw' in cmd ? cmd.raw : `{"execute": ${serializeQemu(cmd.command)}${cmd.args ? `, "arguments": ${serializeQemu(cmd.args)}` : ''}}`;
    if (verbose) out(pretty && !('raw' in cmd) ? JSON.stringify(JSON.parse(text), null, 4) : text);
    const reply = new Promise<{ raw: string; value: JsonPlain } | undefined>((r) => (waiter = r));
    log('>', text);
    qmp.sendRaw(Buffer.from(text, 'utf8'));
    const m = await reply;
    if (!m) return;
    const value = m.value as Record<string, JsonPlain>;
    if ('error' in value) failed++;
    if (hmp && typeof value.return === 'string') {
      const s = value.return.replace(/\r\n/g, '\n');
      if (s) process.stdout.write(s.endsWith('\n') ? s : s + '\n');
    } else if (hmp && 'error' in value) {
      out(`Error: ${(value.error as { desc?: string }).desc ?? ''}`);
    } else out(show(m.value, m.raw));
  };

  if (tty) rl.prompt();
  for await (const line of rl) {
    if (closedFlag) break;
    await run(line);
    if (closedFlag) break;
    if (tty) {
      rl.setPrompt(prompt());
      rl.prompt();
    }
  }
  if (closedFlag) {
    process.stderr.write(`qmpmux shell: connection to ${address} closed\n`);
    failed++;
  } else if (parser.inTransaction) {
    process.stderr.write('qmpmux shell: input ended inside transaction( … ): not sent\n');
    failed++;
  }
  if (tty) process.stdout.write('\n');
  rl.close();
  qmp.close();
  return failed && !tty ? 1 : 0;
}
