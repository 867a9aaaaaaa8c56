/** A minimal argv parser: --flag VALUE (repeatable where declared), --flag=VALUE, --bool, positionals. */
export interface ArgSpec {
  values?: readonly string[];
  repeat?: readonly string[];
  bools?: readonly string[];
}

export class UsageError extends Error {}

export function parseArgs(argv: readonly string[], spec: ArgSpec): { opts: Record<string, string | string[] | boolean>; rest: string[] } {
  const opts: Record<string, string | string[] | boolean> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      rest.push(a);
      continue;
    }
    let [name, value] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (spec.bools?.includes(name)) {
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
