/**
 * `qmpmux shell ADDR`: an interactive QMP shell in the manner of QEMU's qmp-shell.
 *   query-status                      a command without arguments
 *   device_del id=net0                key=value arguments (values are JSON when they parse, else strings)
 *   {"execute": "stop"}               raw JSON, sent as typed
 * Events are printed as they arrive. With stdin not a terminal, commands are read one per line and
 * each reply is awaited before the next is sent; the shell exits at end of input. On a terminal, Tab
 * completes command names from `query-commands` (through qmpmux: qmpmux's own commands too).
 * ADDR is unix:PATH, tcp:HOST:PORT, or qmpmux's ws://HOST:PORT/PATH (wss://…; a bearer token from
 * $QMPMUX_TOKEN).
 */
import { createInterface } from 'node:readline';
import { appendFileSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { QmpClient, QmpError } from '@qmpmux/client';
import { serializeQemu, type JsonPlain } from '@qmpmux/protocol';

const HISTORY = join(homedir(), '.qmpmux_history');
const HISTORY_MAX = 1000;

/** Parse one shell line into a command; raw JSON is passed through as a string. */
export function parseShellLine(line: string): { raw: string } | { command: string; args?: Record<string, JsonPlain> } | undefined {
  const t = line.trim();
  if (!t || t.startsWith('#')) return undefined;
  if (t.startsWith('{')) return { raw: t };
  const [command, ...pairs] = t.split(/\s+/);
  if (!pairs.length) return { command: command! };
  const args: Record<string, JsonPlain> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new Error(`expected key=value, got '${p}'`);
    const key = p.slice(0, eq);
    const text = p.slice(eq + 1);
    let value: JsonPlain;
    try {
      value = JSON.parse(text) as JsonPlain;
    } catch {
      value = text;
    }
    // Dotted keys build nested objects, as qmp-shell does (e.g. arguments.node-name=x).
    const path = key.split('.');
    let o = args;
    for (const k of path.slice(0, -1)) o = (o[k] ??= {}) as Record<string, JsonPlain>;
    o[path[path.length - 1]!] = value;
  }
  return { command: command!, args };
}

/** Tab completion of the command name (the first word) from `names`; readline's [matches, word]. */
export function completeCommand(names: readonly string[], line: string): [string[], string] {
  const word = line.trimStart();
  if (!word || /\s/.test(word) || word.startsWith('{')) return [[], word];
  return [names.filter((n) => n.startsWith(word)), word];
}

export async function shell(argv: string[]): Promise<number> {
  const address = argv[0];
  if (!address) {
    process.stderr.write('usage: qmpmux shell unix:PATH|tcp:HOST:PORT|ws://HOST:PORT/PATH\n');
    return 2;
  }
  const token = process.env.QMPMUX_TOKEN;
  let qmp: QmpClient;
  try {
    qmp = await QmpClient.connect(address, { websocket: token ? { token } : undefined });
  } catch (e) {
    // Refused before the greeting (qmpmux: no principal, QEMU unavailable): say why.
    if (e instanceof QmpError) {
      process.stderr.write(`qmpmux shell: ${address} refused the connection: ${e.desc}\n`);
      return 1;
    }
    throw e;
  }
  const out = (s: string) => process.stdout.write(s + '\n');
  const v = qmp.greeting.QMP.version.qemu;
  const tty = process.stdin.isTTY === true;
  if (tty) out(`Welcome to the QMP low-level shell (qmpmux)!\nConnected to QEMU ${v.major}.${v.minor}.${v.micro}\n`);
  // Command names for Tab (a principal that may not run query-commands just gets no completion).
  const names = tty ? await qmp.execute('query-commands').then((l) => l.map((c) => c.name).sort(), () => [] as string[]) : [];
  qmp.events$.subscribe((e) => out(e.raw.toString('latin1')));
  let history: string[] = [];
  if (tty) {
    try {
      history = readFileSync(HISTORY, 'utf8').split('\n').filter(Boolean).slice(-HISTORY_MAX).reverse();
    } catch {
      /* no history yet */
    }
  }
  const completer = (line: string) => completeCommand(names, line);
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: tty, history, historySize: HISTORY_MAX, prompt: '(QEMU) ', completer });
  let rawWaiter: (() => void) | undefined;
  const closed = new Promise<void>((r) => qmp.messages$.subscribe({ complete: r }));
  qmp.messages$.subscribe((m) => {
    if (rawWaiter && !('event' in (m.value as object))) {
      out(m.raw.toString('latin1'));
      const w = rawWaiter;
      rawWaiter = undefined;
      w();
    }
  });
  const run = async (line: string) => {
    let cmd;
    try {
      cmd = parseShellLine(line);
    } catch (e) {
      return out(`error: ${(e as Error).message}`);
    }
    if (!cmd) return;
    if (tty) appendFileSync(HISTORY, line.trim() + '\n');
    // Like qmp-shell: commands go without an id, and the reply is printed exactly as received.
    const text = 'raw' in cmd ? cmd.raw : `{"execute": ${serializeQemu(cmd.command)}${cmd.args ? `, "arguments": ${serializeQemu(cmd.args)}` : ''}}`;
    const done = new Promise<void>((r) => (rawWaiter = r));
    qmp.sendRaw(Buffer.from(text, 'utf8'));
    await Promise.race([done, closed]);
  };
  if (tty) rl.prompt();
  for await (const line of rl) {
    if (qmp.closed) break;
    await run(line);
    if (tty) rl.prompt();
  }
  qmp.close();
  return 0;
}
