/**
 * A minimal argv parser: --flag VALUE (repeatable where declared), --flag=VALUE, --bool, short
 * aliases (-H, -l FILE), positionals. `--` ends the options.
 */
export interface ArgSpec {
  values?: readonly string[];
  repeat?: readonly string[];
  bools?: readonly string[];
  /** Short aliases: `{ H: 'hmp', l: 'logfile' }` (the long name says whether it takes a value). */
  short?: Readonly<Record<string, string>>;
}

/** A user error: main prints its message on one line and exits 2. */
export class UsageError extends Error {}

/** True when argv asks for help (`--help` or `-h` before any `--`). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

export function parseArgs(argv: readonly string[], spec: ArgSpec): { opts: Record<string, string | string[] | boolean>; rest: string[] } {
  const opts: Record<string, string | string[] | boolean> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    let name: string;
    let value: string | undefined;
    if (a.startsWith('--')) {
      [name, value] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    } else if (a.length > 1 && a.startsWith('-') && !/^-\d/.test(a)) {
      const long = spec.short?.[a.slice(1, 2)];
      if (!long) throw new UsageError(`unknown option ${a.slice(0, 2)}`);
      name = long;
      // -Hp (bools bundled) or -lFILE
      if (a.length > 2) {
        if (spec.bools?.includes(long)) {
          opts[long] = true;
          argv = [...argv.slice(0, i + 1), `-${a.slice(2)}`, ...argv.slice(i + 1)];
          continue;
        }
        value = a.slice(2);
      }
    } else {
      rest.push(a);
      continue;
    }
    if (spec.bools?.includes(name)) {
      if (value !== undefined) throw new UsageError(`--${name} takes no value`);
      opts[name] = true;
      continue;
    }
    const repeat = spec.repeat?.includes(name);
    if (!repeat && !spec.values?.includes(name)) throw new UsageError(`unknown option --${name}`);
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
    }
    if (repeat) ((opts[name] ??= []) as string[]).push(value);
    else opts[name] = value;
  }
  return { opts, rest };
}

const ADDRESS_FORMS = 'unix:PATH, tcp:HOST:PORT, ws://HOST:PORT/PATH or wss://HOST:PORT/PATH';

/** Check a client address (what `shell`, `events`, `clients` connect to); a UsageError names it. */
export function checkAddress(address: string | undefined, what = 'ADDRESS'): string {
  if (address === undefined) throw new UsageError(`missing ${what} (${ADDRESS_FORMS})`);
  if (/^unix:.+/.test(address)) return address;
  const tcp = /^tcp:(.+):(\d+)$/.exec(address);
  if (tcp && Number(tcp[2]) < 65536) return address;
  if (/^wss?:\/\/[^/]+/.test(address)) {
    try {
      new URL(address);
      return address;
    } catch {
      /* fall through */
    }
  }
  throw new UsageError(`bad address '${address}' (expected ${ADDRESS_FORMS})`);
}

/** A non-negative number option (`--count 3`, `--timeout 1.5`). */
export function numberOpt(opts: Record<string, unknown>, name: string, integer: boolean): number | undefined {
  const v = opts[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} needs a non-negative ${integer ? 'integer' : 'number'}, got '${String(v)}'`);
  }
  return n;
}
