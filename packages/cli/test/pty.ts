/**
 * Drive a command through a real pseudo-terminal, for the shell's terminal tests. The pty comes from
 * util-linux's `script` (in Debian's essential bsdutils package, so on every Debian machine): the
 * command runs with the pty as its controlling terminal (stdin and stdout are TTYs, Ctrl-C is a key
 * the line discipline and readline see), and what it writes comes back through script's stdout.
 *
 * The bytes are also played onto a small screen model (the cursor movements Node's readline uses:
 * CR, LF, BS, CSI A/B/C/D/G/K/J, deferred wrap at the last column), so a test can read the screen as a
 * user sees it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

export const COLS = 100;
export const ROWS = 40;

/** The visible text of a terminal, as far as readline's output needs. Unlimited scrollback. */
export class Screen {
  lines: string[][] = [[]];
  private row = 0;
  private col = 0;
  private wrapPending = false;
  private esc = '';

  constructor(readonly cols = COLS) {}

  write(data: string): void {
    for (const ch of data) {
      if (this.esc) {
        this.esc += ch;
        if (this.esc === '\x1b[' || (this.esc.startsWith('\x1b[') && /[0-9;?]$/.test(ch))) continue;
        if (this.esc.length === 2 && ch !== '[') {
          this.esc = ''; // ESC x: not used by readline
          continue;
        }
        this.csi(this.esc.slice(2, -1), ch);
        this.esc = '';
        continue;
      }
      if (ch === '\x1b') this.esc = ch;
      else if (ch === '\r') this.moveTo(this.row, 0);
      else if (ch === '\n') this.moveTo(this.row + 1, this.col);
      else if (ch === '\b') this.moveTo(this.row, Math.max(0, this.col - 1));
      else if (ch === '\t') this.moveTo(this.row, Math.min(this.cols - 1, (Math.floor(this.col / 8) + 1) * 8));
      else if (ch >= ' ') this.put(ch);
    }
  }

  /** The screen's rows as text (trailing blanks trimmed), without the empty rows at the end. */
  text(): string[] {
    const rows = this.lines.map((l) => l.map((c) => c ?? ' ').join('').trimEnd());
    while (rows.length && rows[rows.length - 1] === '') rows.pop();
    return rows;
  }

  private put(ch: string): void {
    if (this.wrapPending) this.moveTo(this.row + 1, 0);
    this.line(this.row)[this.col] = ch;
    if (this.col === this.cols - 1) this.wrapPending = true;
    else this.col++;
  }

  private line(r: number): string[] {
    while (this.lines.length <= r) this.lines.push([]);
    return this.lines[r]!;
  }

  private moveTo(r: number, c: number): void {
    this.row = Math.max(0, r);
    this.col = Math.max(0, Math.min(this.cols - 1, c));
    this.wrapPending = false;
    this.line(this.row);
  }

  private csi(params: string, final: string): void {
    const n = params === '' ? undefined : Number(params.split(';')[0]);
    switch (final) {
      case 'A':
        return this.moveTo(this.row - (n || 1), this.col);
      case 'B':
        return this.moveTo(this.row + (n || 1), this.col);
      case 'C':
        return this.moveTo(this.row, this.col + (n || 1));
      case 'D':
        return this.moveTo(this.row, this.col - (n || 1));
      case 'G':
        return this.moveTo(this.row, (n || 1) - 1);
      case 'K': {
        const l = this.line(this.row);
        if (!n) l.length = Math.min(l.length, this.col); // to the end of the line
        else if (n === 1) l.fill(' ', 0, this.col + 1);
        else l.length = 0;
        return;
      }
      case 'J':
        if (!n) {
          this.line(this.row).length = Math.min(this.line(this.row).length, this.col);
          this.lines.length = this.row + 1;
        }
        return;
      default:
        return; // modes (CSI ? … h/l) and the like: nothing on screen
    }
  }
}

/** `'it''s'` quoting for sh. */
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface PtyProcess {
  /** Type: each call is one write, so readline sees it as one chunk (keep a Tab in a write of its own). */
  type(keys: string): void;
  /** The screen now. */
  screen(): string[];
  /** All output so far, escape sequences removed. */
  text(): string;
  /** Wait until the screen shows a row matching `re` (searching rows from `fromRow`); returns its index. */
  waitForRow(re: RegExp, fromRow?: number, ms?: number): Promise<number>;
  /** Wait until `pred` holds for the screen's rows. */
  waitUntil(pred: (rows: string[]) => boolean, what: string, ms?: number): Promise<void>;
  /** Exit status (script -e passes the command's on). */
  readonly exited: Promise<number | null>;
  readonly proc: ChildProcess;
  kill(): void;
}

/** Run `argv` (argv[0] an executable) on a pty of COLS×ROWS with this environment. */
export function spawnPty(argv: string[], env: NodeJS.ProcessEnv): PtyProcess {
  const cmd = `stty cols ${COLS} rows ${ROWS} && exec ${argv.map(q).join(' ')}`;
  const proc = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...env, SHELL: '/bin/sh', TERM: 'xterm' } });
  const screen = new Screen();
  let raw = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (d: string) => {
    raw += d;
    screen.write(d);
  });
  proc.stderr!.on('data', (d) => (raw += d));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  setTimeout(() => proc.kill('SIGKILL'), 60_000).unref(); // a guard: the test then fails, not hangs
  return {
    proc,
    exited,
    type: (keys) => void proc.stdin!.write(keys),
    screen: () => screen.text(),
    text: () => raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, ''),
    async waitForRow(re, fromRow = 0, ms = 15_000) {
      let row = -1;
      await this.waitUntil((rows) => (row = rows.findIndex((l, k) => k >= fromRow && re.test(l))) >= 0, `a row matching ${re}`, ms);
      return row;
    },
    async waitUntil(pred, what, ms = 15_000) {
      const deadline = Date.now() + ms;
      while (!pred(screen.text())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the screen:\n${screen.text().join('\n')}`);
        await sleep(20);
      }
    },
    kill: () => void proc.kill('SIGKILL'),
  };
}
