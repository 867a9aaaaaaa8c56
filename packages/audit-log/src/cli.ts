/**
 * `qmpmux audit …`: verify, show and convert audit logs.
 *   qmpmux audit verify [--key-file F | --key-env VAR] FILE…
 *   qmpmux audit show [--principal P] [--since T] [--until T] [--command C] [--json] [--follow] FILE…
 *   qmpmux audit convert --to json|msgpack IN OUT
 * Exit status: 0 fine, 1 the chain is broken or a file cannot be read, 2 usage.
 */
import { loadKey } from './chain.ts';
import { convertFile } from './convert.ts';
import { parseTime, show, type ShowFilter } from './show.ts';
import { verifyFiles } from './verify.ts';

export const AUDIT_USAGE = `usage: qmpmux audit verify [--key-file FILE | --key-env VAR] FILE...
       qmpmux audit show [--principal P] [--since T] [--until T] [--command C] [--json] [--follow] FILE...
       qmpmux audit convert --to json|msgpack IN OUT
  FILE...      the log and its rotated segments in any order (e.g. audit.log*): they are put in chain order
  --principal  records of this principal ('' for none)
  --since/--until  ISO 8601, epoch seconds, or an age such as 15m, 2h, 3d
  --command    a QMP command or an HMP command (aliases resolved; 'info *' or a trailing * for prefixes)`;

class Usage extends Error {}

function parse(argv: readonly string[], values: readonly string[], bools: readonly string[]): { opts: Record<string, string | true>; files: string[] } {
  const opts: Record<string, string | true> = {};
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      files.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('--')) {
      files.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (bools.includes(name)) {
      if (eq >= 0) throw new Usage(`--${name} takes no value`);
      opts[name] = true;
    } else if (values.includes(name)) {
      const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new Usage(`--${name} needs a value`);
      opts[name] = v;
    } else throw new Usage(`unknown option --${name}`);
  }
  return { opts, files };
}

export async function auditCommand(argv: readonly string[], io: { out?: (s: string) => void; err?: (s: string) => void; signal?: AbortSignal } = {}): Promise<number> {
  const out = io.out ?? ((s: string) => void process.stdout.write(s + '\n'));
  const err = io.err ?? ((s: string) => void process.stderr.write(s + '\n'));
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'verify': {
        const { opts, files } = parse(rest, ['key-file', 'key-env'], []);
        if (!files.length) throw new Usage('verify needs at least one FILE');
        if (opts['key-file'] && opts['key-env']) throw new Usage('give --key-file or --key-env, not both');
        const key = loadKey({ file: opts['key-file'] as string | undefined, env: opts['key-env'] as string | undefined });
        const r = verifyFiles(files, { key });
        for (const n of r.notes) err(`note: ${n}`);
        if (r.torn) err(`warning: ${r.torn.file} ends inside a record (${r.torn.bytes} bytes at byte ${r.torn.offset}): a write interrupted by a crash; qmpmux cuts it off when it reopens the log`);
        if (!r.ok) {
          const b = r.broken!;
          out(`BROKEN: ${b.file}: record${b.seq !== undefined ? ` seq ${b.seq}` : ''} at byte ${b.offset}${b.line !== undefined ? ` (line ${b.line})` : ''}: ${b.reason}`);
          out(`${r.records} record(s) before it verified${r.lastSeq !== undefined ? ` (seq ${r.firstSeq}..${r.lastSeq})` : ''}`);
          return 1;
        }
        out(`ok: ${r.records} record(s)${r.lastSeq !== undefined ? `, seq ${r.firstSeq}..${r.lastSeq}` : ''} in ${r.files.length} file(s), chain ${r.alg ?? 'empty'}${r.head ? `, head ${r.head}` : ''}`);
        return 0;
      }
      case 'show': {
        const { opts, files } = parse(rest, ['principal', 'since', 'until', 'command'], ['json', 'follow']);
        if (!files.length) throw new Usage('show needs at least one FILE');
        const filter: ShowFilter = {};
        if (opts.principal !== undefined) filter.principal = opts.principal as string;
        if (opts.command !== undefined) filter.command = opts.command as string;
        try {
          if (opts.since !== undefined) filter.since = parseTime(opts.since as string);
          if (opts.until !== undefined) filter.until = parseTime(opts.until as string);
        } catch (e) {
          throw new Usage((e as Error).message);
        }
        let signal = io.signal;
        let stop: (() => void) | undefined;
        if (opts.follow && !signal) {
          const ac = new AbortController();
          signal = ac.signal;
          stop = () => ac.abort();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        }
        try {
          await show(files, { filter, json: opts.json === true, follow: opts.follow === true, out, warn: (s) => err(`warning: ${s}`), signal });
        } finally {
          if (stop) {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
          }
        }
        return 0;
      }
      case 'convert': {
        const { opts, files } = parse(rest, ['to'], []);
        if (opts.to !== 'json' && opts.to !== 'msgpack') throw new Usage('convert needs --to json or --to msgpack');
        if (files.length !== 2) throw new Usage('convert needs IN and OUT');
        const r = convertFile(files[0]!, files[1]!, opts.to);
        if (r.tornBytes) err(`warning: ${files[0]} ends inside a record (${r.tornBytes} bytes): left out`);
        out(`${r.records} record(s) converted from ${r.from ?? 'empty'} to ${opts.to}: ${files[1]}`);
        return 0;
      }
      case 'help':
      case '--help':
      case '-h':
        out(AUDIT_USAGE);
        return 0;
      case undefined:
        throw new Usage('missing the audit command: verify, show or convert');
      default:
        throw new Usage(`unknown audit command '${sub}' (verify, show or convert)`);
    }
  } catch (e) {
    // One line naming the problem, as every qmpmux command.
    if (e instanceof Usage) {
      err(`qmpmux audit: ${e.message} (qmpmux audit --help)`);
      return 2;
    }
    err(`qmpmux audit: ${(e as Error).message}`);
    return 1;
  }
}
