/**
 * HMP command lines as QEMU's monitor reads them (monitor/hmp.c, 7.2): leading and repeated whitespace
 * skipped; a command name runs up to whitespace or `/` (`p/x 1` is `print`); names are case-sensitive;
 * aliases cont|c, stop|s, quit|q, print|p, help|?; `info` takes a sub-command name the same way, so
 * `info status` is the one name 'info status' (a bare `info` lists the sub-commands). `;` does not
 * chain commands and `#` is not a comment.
 */
export const HMP_ALIASES: Readonly<Record<string, string>> = { c: 'cont', s: 'stop', q: 'quit', p: 'print', '?': 'help' };

export interface HmpCommand {
  /** The command name with aliases resolved; `info X` for info sub-commands; '' for an empty line. */
  name: string;
  /** The first word as written, when it was an alias (`c`). */
  alias?: string;
  /** The rest of the line after the name(s), leading whitespace removed. */
  args: string;
}

const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';

function word(line: string, at: number): { word: string; end: number } {
  let i = at;
  while (i < line.length && isSpace(line[i]!)) i++;
  const start = i;
  while (i < line.length && line[i] !== '/' && !isSpace(line[i]!)) i++;
  return { word: line.slice(start, i), end: i };
}

function skipSpace(line: string, at: number): number {
  while (at < line.length && isSpace(line[at]!)) at++;
  return at;
}

export function parseHmp(line: string): HmpCommand {
  const first = word(line, 0);
  const alias = HMP_ALIASES[first.word] !== undefined ? first.word : undefined;
  const name = alias ? HMP_ALIASES[first.word]! : first.word;
  if (name === 'info') {
    const rest = skipSpace(line, first.end);
    if (rest < line.length) {
      const sub = word(line, rest);
      return { name: sub.word ? `info ${sub.word}` : 'info', args: line.slice(skipSpace(line, sub.end)) };
    }
    return { name: 'info', args: '' };
  }
  const out: HmpCommand = { name, args: line.slice(skipSpace(line, first.end)) };
  if (alias) out.alias = alias;
  return out;
}

/** A command name or pattern as a user writes it (`c`, `info  status`, `info *`) in QEMU's spelling. */
export function normalizeHmpName(pattern: string): string {
  const t = pattern.trim();
  if (t === '*') return '*';
  if (t.endsWith('*')) {
    const stem = t.slice(0, -1);
    return `${stem.trim() ? normalizeHmpName(stem) : ''}${/\s$/.test(stem) ? ' ' : ''}*`;
  }
  return parseHmp(t).name;
}

/** Does a normalized pattern (`quit`, `info *`, `*`, `migrate*`) match a command name? */
export function matchHmpName(pattern: string, name: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return name.startsWith(pattern.slice(0, -1));
  return pattern === name;
}
