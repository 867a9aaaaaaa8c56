/**
 * What `qmpmux shell` does with one line, whether it came from a terminal or a pipe: parse it
 * (grammar.ts; in HMP mode wrap it in human-monitor-command), send it as qmp-shell does (no id), wait
 * for its reply and print it — exactly as received, pretty with -p, HMP's text with -H — with -v the
 * command before it and with -l both in the log file (not the shell's own negotiation and completion
 * queries). Events are printed as they arrive.
 */
import { appendFileSync } from 'node:fs';
import type { QmpClient } from '@qmpmux/client';
import { QmpFramer, serializeQemu, type JsonPlain } from '@qmpmux/protocol';
import { ShellParser } from './grammar.ts';

export interface SessionOptions {
  /** -H: lines are HMP commands, replies are HMP's text. */
  hmp: boolean;
  /** -p: indented JSON. */
  pretty: boolean;
  /** -v: print each command before sending it. */
  verbose: boolean;
  /** -l: append `> sent` and `< received` lines to this file. */
  logfile: string | undefined;
}

type Message = { raw: string; value: Record<string, JsonPlain> };

export class ShellSession {
  readonly parser = new ShellParser();
  /** Lines that failed: a parse error, a QMP error reply, an unfinished transaction. */
  failed = 0;
  /** The server closed the connection. */
  closed = false;
  /** Called once when the connection closes. */
  onClose: () => void = () => {};
  /** Where every line of output goes (a terminal prints it above the prompt). */
  print: (text: string) => void = (text) => void process.stdout.write(text + '\n');
  /** Replies still awaited for the line being run, and where they go. */
  private expected = 0;
  private gotReply: ((m: Message | undefined) => void) | undefined;
  /** While completion data loads through the same connection, its replies are not the user's. */
  private quietDepth = 0;

  /** Subscribe at once: connect without negotiating, then negotiate(), so no early event is missed. */
  constructor(
    private readonly qmp: QmpClient,
    private readonly opts: SessionOptions,
  ) {
    qmp.messages$.subscribe({
      next: (m) => this.onMessage({ raw: m.raw.toString('utf8'), value: m.value as Record<string, JsonPlain> }),
      complete: () => {
        this.closed = true;
        this.gotReply?.(undefined);
        this.onClose();
      },
    });
  }

  /** True while a command waits for its reply. */
  get busy(): boolean {
    return this.gotReply !== undefined;
  }

  /** qmp_capabilities (its reply is not the user's). */
  async negotiate(): Promise<void> {
    await this.quietly(() => this.qmp.execute('qmp_capabilities'));
  }

  /** Run `fn` (completion loading) without taking its replies for the user's. */
  async quietly<T>(fn: () => Promise<T>): Promise<T> {
    this.quietDepth++;
    try {
      return await fn();
    } finally {
      this.quietDepth--;
    }
  }

  /** Run one input line; resolves once its replies are printed (at once for a blank line or a comment). */
  async run(line: string): Promise<void> {
    if (this.closed) return;
    let text: string;
    let replies = 1;
    if (this.opts.hmp) {
      if (!line.trim()) return;
      text = `{"execute": "human-monitor-command", "arguments": ${serializeQemu({ 'command-line': line.trim() })}}`;
    } else {
      let cmd;
      try {
        cmd = this.parser.parse(line);
        if (cmd && 'raw' in cmd) replies = countMessages(cmd.raw);
      } catch (e) {
        this.failed++;
        return this.print(`Error while parsing command line: ${(e as Error).message}`);
      }
      if (!cmd) return;
      // As qmp-shell: no id, and the reply is printed exactly as received.
      text = 'raw' in cmd ? cmd.raw : `{"execute": ${serializeQemu(cmd.command)}${cmd.args ? `, "arguments": ${serializeQemu(cmd.args)}` : ''}}`;
    }
    if (this.opts.verbose) this.print(this.opts.pretty ? prettyIfJson(text) : text);
    this.log('>', text);
    this.expected = replies;
    const done = new Promise<void>((resolve) => {
      this.gotReply = (m) => {
        if (m) this.printReply(m);
        if (!m || --this.expected === 0) {
          this.gotReply = undefined;
          resolve();
        }
      };
    });
    this.qmp.sendRaw(Buffer.from(text, 'utf8'));
    await done;
  }

  /** Stop waiting for the line being run (Ctrl-C while it waits): run() resolves now. */
  abandon(): void {
    this.gotReply?.(undefined);
  }

  private onMessage(m: Message): void {
    // The shell's own commands (negotiation, completion data) are not the user's traffic.
    if (this.quietDepth > 0 && !('event' in m.value)) return;
    this.log('<', m.raw);
    if ('event' in m.value) return this.print(this.show(m));
    // A reply nobody waits for (a raw line with more messages than it seemed) is still shown.
    if (this.gotReply) this.gotReply(m);
    else this.printReply(m);
  }

  private printReply(m: Message): void {
    if ('error' in m.value) this.failed++;
    const ret = m.value.return;
    if (this.opts.hmp && typeof ret === 'string') {
      const s = ret.replace(/\r\n/g, '\n').replace(/\n$/, '');
      if (s) this.print(s);
    } else if (this.opts.hmp && 'error' in m.value) {
      this.print(`Error: ${(m.value.error as { desc?: string }).desc ?? ''}`);
    } else this.print(this.show(m));
  }

  private show(m: Message): string {
    return this.opts.pretty ? JSON.stringify(m.value, null, 4) : m.raw;
  }

  private log(dir: '>' | '<', text: string): void {
    if (this.opts.logfile) appendFileSync(this.opts.logfile, `${dir} ${text}\n`);
  }
}

/**
 * How many replies QEMU gives to a raw JSON line: one per message or error its lexer and streamer
 * find (the framer does as QEMU). Unfinished JSON would leave QEMU waiting for the rest, so it is
 * refused here.
 */
function countMessages(raw: string): number {
  const framer = new QmpFramer();
  const n = framer.push(Buffer.from(raw + '\n', 'utf8')).length;
  if (framer.pendingBytes > 0) throw new Error('unfinished JSON (an unclosed {, [ or string): not sent');
  return n;
}

function prettyIfJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 4);
  } catch {
    return text;
  }
}
