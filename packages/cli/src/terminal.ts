/**
 * `qmpmux shell` on a terminal: a readline prompt with Tab completion (complete.ts), history across
 * sessions (history.ts), events and replies printed above the line being typed (which is redrawn
 * intact, however many rows it takes), Ctrl-C to drop the line (and a transaction being built),
 * Ctrl-D on an empty line to leave.
 *
 * Exit status: 0 after Ctrl-D; 1 when the connection closes; 130 when Ctrl-C is pressed while a
 * command waits for its reply (a QMP command cannot be cancelled, so the shell gives up on it).
 */
import { createInterface, cursorTo, clearScreenDown, moveCursor, type Interface } from 'node:readline';
import type { QmpClient } from '@qmpmux/client';
import { Completer } from './complete.ts';
import { HistoryFile, HISTORY_MAX } from './history.ts';
import type { ShellSession } from './session.ts';

export interface TerminalOptions {
  hmp: boolean;
  historyFile: string;
  /** -N: completion is loaded once the user's own qmp_capabilities succeeds. */
  negotiated: boolean;
  address: string;
}

/** readline's fields that printing above the prompt needs (stable since Node 12, not in its types). */
type Readline = Interface & { line: string; prevRows?: number };

export async function runTerminal(qmp: QmpClient, session: ShellSession, opts: TerminalOptions): Promise<number> {
  const out = process.stdout;
  const history = new HistoryFile(opts.historyFile);
  const completer = new Completer();
  let rl: Readline | undefined;
  let atPrompt = false;

  /** Print above the prompt when one is showing: erase prompt and line, print, draw them again. */
  const print = (text: string) => {
    if (!rl || !atPrompt) return void out.write(text + '\n');
    moveCursor(out, 0, -rl.getCursorPos().rows);
    cursorTo(out, 0);
    clearScreenDown(out);
    out.write(text + '\n');
    rl.prevRows = 0;
    rl.prompt(true);
  };
  session.print = print;
  const loadCompletion = () => session.quietly(() => (opts.hmp ? completer.loadHmp(qmp) : completer.load(qmp)));
  if (opts.negotiated) await loadCompletion();

  const v = qmp.greeting.QMP.version.qemu;
  out.write(`Welcome to the ${opts.hmp ? 'HMP' : 'QMP low-level'} shell (qmpmux)!\nConnected to QEMU ${v.major}.${v.minor}.${v.micro}\n\n`);
  const prompt = () => (opts.hmp ? '(HMP) ' : session.parser.inTransaction ? 'TRANS> ' : '(QEMU) ');
  rl = createInterface({
    input: process.stdin,
    output: out,
    terminal: true,
    history: history.load(),
    historySize: HISTORY_MAX,
    prompt: prompt(),
    completer: (line: string) => (opts.hmp ? completer.completeHmp(line) : completer.complete(line, session.parser.inTransaction)),
  }) as Readline;
  const showPrompt = () => {
    rl!.setPrompt(prompt());
    rl!.prompt();
    atPrompt = true;
  };

  let status = 0;
  rl.on('SIGINT', () => {
    if (session.busy) {
      out.write('^C\n');
      status = 130;
      session.abandon();
      return;
    }
    // Drop the line being typed, and a transaction being built; keep the shell.
    out.write('^C\n');
    session.parser.reset();
    rl!.line = '';
    showPrompt();
  });
  session.onClose = () => {
    if (status === 0) status = 1;
    atPrompt = false;
    out.write(`\nqmpmux shell: connection to ${opts.address} closed\n`);
    rl!.close();
  };

  showPrompt();
  for await (const line of rl) {
    atPrompt = false;
    history.add(line);
    const failedBefore = session.failed;
    await session.run(line);
    if (session.closed || status !== 0) break;
    // -N: once the user has negotiated, there is something to complete.
    if (!opts.negotiated && /^\s*qmp_capabilities\b|"qmp_capabilities"/.test(line) && session.failed === failedBefore) {
      opts.negotiated = true;
      await loadCompletion();
    }
    showPrompt();
  }
  if (status === 0 && !session.closed) out.write('\n');
  session.onClose = () => {}; // the caller closes the connection now: no news
  rl.close();
  return status;
}
