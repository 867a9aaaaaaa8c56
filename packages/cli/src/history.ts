/**
 * The shell's history file: one line per entry, oldest first, at most HISTORY_MAX lines. Each entered
 * line is appended at once (so concurrent shells do not overwrite each other's lines, and a shell that
 * is killed keeps what it had), then the file is cut back to its newest HISTORY_MAX lines if it has
 * grown past them (reading ~HISTORY_MAX short lines per entered line is nothing at typing speed).
 * A line that starts with a space is not saved (as bash's `HISTCONTROL=ignorespace`: a way to keep a
 * secret out of the file). The file is created 0600.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';

/** Lines of history kept (in memory and in the history file). */
export const HISTORY_MAX = 1000;

export class HistoryFile {
  private last: string | undefined;

  constructor(
    readonly path: string,
    readonly max = HISTORY_MAX,
  ) {}

  /** The saved history, newest first (readline's order). A missing or unreadable file is no history. */
  load(): string[] {
    let all: string[];
    try {
      all = readFileSync(this.path, 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
    const kept = all.slice(-this.max);
    if (kept.length < all.length) this.write(kept);
    this.last = kept[kept.length - 1];
    return kept.reverse();
  }

  /** Save an entered line (not blank, not a repeat of the one before, not one starting with a space). */
  add(line: string): void {
    if (!line.trim() || line.startsWith(' ') || line === this.last) return;
    this.last = line;
    try {
      appendFileSync(this.path, line + '\n', { mode: 0o600 });
      this.load();
    } catch {
      /* an unwritable history file is not worth failing a shell over */
    }
  }

  private write(lines: string[]): void {
    try {
      writeFileSync(this.path, lines.map((l) => l + '\n').join(''), { mode: 0o600 });
    } catch {
      /* as above */
    }
  }
}
