/**
 * qmp-shell's line grammar (QEMU's python/qemu/qmp/qmp_shell.py), as `qmpmux shell` reads it:
 *
 *   command [key=value]...        one command; a value is an integer, true/false (any case), JSON
 *                                 when it starts with { or [, else a string; '…' or "…" quote a
 *                                 string value with spaces (\" and \\ escape inside); dotted keys
 *                                 nest (a.b=1 → {"a": {"b": 1}})
 *   {"execute": …}                raw JSON, sent as typed
 *   transaction(                  starts a transaction; each following line is an action
 *   type key=value...             (`type` and its `data`), and a line `)` (or an action line ending
 *   )                             in ` )`) sends them all as one `transaction` command
 *   # …                           a comment
 *
 * Errors are qmp-shell's: "Expected a key=value pair, got 'x'", 'Cannot set "k" multiple times',
 * 'Cannot use "k" as both leaf and non-leaf key', 'Unexpected input after close of Transaction
 * sub-shell'.
 */
import { QmpFramer, toPlain, type JsonPlain } from '@qmpmux/protocol';

export class ShellSyntaxError extends Error {}

export type ShellCommand = { raw: string } | { command: string; args?: Record<string, JsonPlain> };

/** Split a line into words; quotes group (and stay in the word, as in qmp-shell). */
export function tokenize(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '"' || c === "'") {
      let j = i + 1;
      for (; j < line.length && line[j] !== c; j++) if (line[j] === '\\') j++;
      if (j >= line.length) throw new ShellSyntaxError(`unterminated ${c} quote`);
      cur += line.slice(i, j + 1);
      inWord = true;
      i = j;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/**
 * qmp-shell's value rules: an integer as Python's int() reads it (any size: beyond 2^53 a bigint, sent
 * exactly), true/false in any case, JSON when it starts with { or [ (QEMU's JSON: '…' strings too),
 * else the text as a string. Plus: '…' or "…" around the whole value make it a string as it is.
 */
export function parseValue(text: string): JsonPlain {
  const q = text[0];
  if ((q === '"' || q === "'") && text.length >= 2 && text[text.length - 1] === q) {
    return text.slice(1, -1).replace(/\\(.)/gs, '$1');
  }
  if (/^[+-]?\d+(_\d+)*$/.test(text)) {
    const n = BigInt(text.replace(/_/g, ''));
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  }
  if (text.toLowerCase() === 'true') return true;
  if (text.toLowerCase() === 'false') return false;
  if (text.startsWith('{') || text.startsWith('[')) {
    const framer = new QmpFramer();
    const events = framer.push(Buffer.from(text + ' ', 'utf8'));
    const only = events.length === 1 && framer.pendingBytes === 0 ? events[0] : undefined;
    if (only?.type === 'message') return toPlain(only.root);
  }
  return text;
}

/** key=value words into an arguments object (dotted keys nest). */
export function parseArgsWords(words: readonly string[], into: Record<string, JsonPlain> = {}): Record<string, JsonPlain> {
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq < 0) throw new ShellSyntaxError(`Expected a key=value pair, got '${w}'`);
    const key = w.slice(0, eq);
    const value = parseValue(w.slice(eq + 1));
    const path = key.split('.');
    let o = into;
    const cur: string[] = [];
    for (const k of path.slice(0, -1)) {
      cur.push(k);
      const next = o[k] ?? {};
      if (typeof next !== 'object' || next === null || Array.isArray(next)) throw new ShellSyntaxError(`Cannot use "${cur.join('.')}" as both leaf and non-leaf key`);
      o[k] = next;
      o = next as Record<string, JsonPlain>;
    }
    const last = path[path.length - 1]!;
    if (last in o) {
      const prev = o[last];
      if (typeof prev === 'object' && prev !== null && !Array.isArray(prev)) throw new ShellSyntaxError(`Cannot use "${key}" as both leaf and non-leaf key`);
      throw new ShellSyntaxError(`Cannot set "${key}" multiple times`);
    }
    o[last] = value;
  }
  return into;
}

/** The stateful parser: one line in, a command out when one is complete. */
export class ShellParser {
  private actions: JsonPlain[] | undefined;

  /** True inside `transaction(` … `)`. */
  get inTransaction(): boolean {
    return this.actions !== undefined;
  }

  /** Forget a transaction being typed (Ctrl-C). */
  reset(): void {
    this.actions = undefined;
  }

  /** undefined: nothing to send (blank, comment, or a transaction still open). */
  parse(line: string): ShellCommand | undefined {
    const t = line.trim();
    if (!t || t.startsWith('#')) return undefined;
    if (!this.actions && t.startsWith('{')) return { raw: t };
    let words = tokenize(t);
    if (words[0] === 'transaction(') {
      this.actions = [];
      words = words.slice(1);
    } else if (words[0]?.startsWith('transaction(') && !this.actions) {
      this.actions = [];
      words = [words[0].slice('transaction('.length), ...words.slice(1)];
    }
    if (this.actions && words[0] === ')') {
      if (words.length > 1) throw new ShellSyntaxError('Unexpected input after close of Transaction sub-shell');
      return this.finish();
    }
    if (!words.length) return undefined;
    if (this.actions) {
      let close = false;
      if (words[words.length - 1] === ')') {
        words = words.slice(0, -1);
        close = true;
      }
      const data = parseArgsWords(words.slice(1));
      this.actions.push({ type: words[0]!, data });
      return close ? this.finish() : undefined;
    }
    const [command, ...pairs] = words;
    return pairs.length ? { command: command!, args: parseArgsWords(pairs) } : { command: command! };
  }

  private finish(): ShellCommand {
    const actions = this.actions!;
    this.actions = undefined;
    return { command: 'transaction', args: { actions } };
  }
}

/** One line outside any transaction (the old single-line entry point). */
export function parseShellLine(line: string): ShellCommand | undefined {
  return new ShellParser().parse(line);
}
