/**
 * `qmpmux audit …`: verify, show and convert audit logs.
 *   qmpmux audit verify [--key-file F | --key-env VAR] FILE…
 *   qmpmux audit verify --nats URL --vm VM [--subject-prefix P] [--stream S] [--key-file F | --key-env VAR]
 *     (the chain as a NATS JetStream stream holds it: the qmpmux CLI plugs in the verifier, `natsVerify`;
 *     this package does not depend on NATS)
 *   qmpmux audit show [--principal P] [--since T] [--until T] [--command C] [--json] [--follow] FILE…
 *   qmpmux audit convert --to json|msgpack IN OUT
 * Exit status: 0 fine, 1 the chain is broken or a file cannot be read, 2 usage.
 */
import { loadKey } from './chain.ts';
import type { ChainBreak, ChainReport } from './chain-verify.ts';
import { convertFile } from './convert.ts';
import { parseTime, show, type ShowFilter } from './show.ts';
import { verifyFiles } from './verify.ts';

export const AUDIT_USAGE = `usage: qmpmux audit verify [--key-file FILE | --key-env VAR] FILE...
       qmpmux audit verify --nats URL --vm VM [--subject-prefix P] [--stream S] [--key-file FILE | --key-env VAR]
                           [--creds FILE] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]
       qmpmux audit show [--principal P] [--since T] [--until T] [--command C] [--json] [--follow] FILE...
       qmpmux audit convert --to json|msgpack IN OUT
  FILE...      the log and its rotated segments in any order (e.g. audit.log*): they are put in chain order
  --nats URL   verify the records of VM as the NATS JetStream stream holds them (subject P.VM.audit,
               P default qmpmux; stream S default QMPMUX_AUDIT); URL tls://HOST:PORT asks for TLS;
               --creds, --tls-ca, --tls-cert, --tls-key and $QMPMUX_NATS_USER/_PASSWORD/_TOKEN as
               qmpmux fleet takes them (qmpmux fleet --help)
  --principal  records of this principal ('' for none)
  --since/--until  ISO 8601, epoch seconds, or an age such as 15m, 2h, 3d
  --command    a QMP command or an HMP command (aliases resolved; 'info *' or a trailing * for prefixes)`;

/** A usage error: one line, exit 2. A RemoteVerifier throws it for bad connection flags. */
export class AuditUsageError extends Error {}

/** What `verify --nats` asks of the verifier the qmpmux CLI plugs in. */
export interface RemoteVerifyOptions {
  url: string;
  vm: string;
  subjectPrefix?: string;
  stream?: string;
  key?: Buffer;
  /** The connection flags given (--creds, --tls-ca, --tls-cert, --tls-key), by name without the dashes. */
  connection: Partial<Record<(typeof CONNECTION_FLAGS)[number], string>>;
}

/** Flags `verify --nats` passes to the verifier untouched: it knows how NATS connects. */
const CONNECTION_FLAGS = ['creds', 'tls-ca', 'tls-cert', 'tls-key'] as const;

/** A chain verified where it is held: `source` names it, `at` in the report says where in it. */
export interface RemoteVerifyResult {
  source: string;
  /** The source holds no record of the VM. */
  empty: boolean;
  report: ChainReport<string>;
}

export type RemoteVerifier = (o: RemoteVerifyOptions) => Promise<RemoteVerifyResult>;

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
      if (eq >= 0) throw new AuditUsageError(`--${name} takes no value`);
      opts[name] = true;
    } else if (values.includes(name)) {
      const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new AuditUsageError(`--${name} needs a value`);
      opts[name] = v;
    } else throw new AuditUsageError(`unknown option --${name}`);
  }
  return { opts, files };
}

export interface AuditIo {
  out?: (s: string) => void;
  err?: (s: string) => void;
  signal?: AbortSignal;
  /** `verify --nats`: the qmpmux CLI gives the NATS plugin's verifier. */
  natsVerify?: RemoteVerifier;
}

export async function auditCommand(argv: readonly string[], io: AuditIo = {}): Promise<number> {
  const out = io.out ?? ((s: string) => void process.stdout.write(s + '\n'));
  const err = io.err ?? ((s: string) => void process.stderr.write(s + '\n'));
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'verify': {
        const { opts, files } = parse(rest, ['key-file', 'key-env', 'nats', 'vm', 'subject-prefix', 'stream', ...CONNECTION_FLAGS], []);
        if (opts['key-file'] && opts['key-env']) throw new AuditUsageError('give --key-file or --key-env, not both');
        if (opts.nats !== undefined) {
          if (files.length) throw new AuditUsageError('give --nats or FILEs, not both');
          if (opts.vm === undefined) throw new AuditUsageError('--nats needs --vm VM');
          if (!io.natsVerify) throw new AuditUsageError('--nats needs the NATS plugin: run it as qmpmux audit verify --nats');
          const key = loadKey({ file: opts['key-file'] as string | undefined, env: opts['key-env'] as string | undefined });
          const connection: RemoteVerifyOptions['connection'] = {};
          for (const f of CONNECTION_FLAGS) if (opts[f] !== undefined) connection[f] = opts[f] as string;
          const r = await io.natsVerify({ url: opts.nats as string, vm: opts.vm as string, subjectPrefix: opts['subject-prefix'] as string | undefined, stream: opts.stream as string | undefined, key, connection });
          return printRemote(r, opts.vm as string, key !== undefined, out, err);
        }
        for (const o of ['vm', 'subject-prefix', 'stream', ...CONNECTION_FLAGS]) if (opts[o] !== undefined) throw new AuditUsageError(`--${o} goes with --nats`);
        if (!files.length) throw new AuditUsageError('verify needs at least one FILE');
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
        if (!files.length) throw new AuditUsageError('show needs at least one FILE');
        const filter: ShowFilter = {};
        if (opts.principal !== undefined) filter.principal = opts.principal as string;
        if (opts.command !== undefined) filter.command = opts.command as string;
        try {
          if (opts.since !== undefined) filter.since = parseTime(opts.since as string);
          if (opts.until !== undefined) filter.until = parseTime(opts.until as string);
        } catch (e) {
          throw new AuditUsageError((e as Error).message);
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
        if (opts.to !== 'json' && opts.to !== 'msgpack') throw new AuditUsageError('convert needs --to json or --to msgpack');
        if (files.length !== 2) throw new AuditUsageError('convert needs IN and OUT');
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
        throw new AuditUsageError('missing the audit command: verify, show or convert');
      default:
        throw new AuditUsageError(`unknown audit command '${sub}' (verify, show or convert)`);
    }
  } catch (e) {
    // One line naming the problem, as every qmpmux command.
    if (e instanceof AuditUsageError) {
      err(`qmpmux audit: ${e.message} (qmpmux audit --help)`);
      return 2;
    }
    err(`qmpmux audit: ${(e as Error).message}`);
    return 1;
  }
}

/** Print a remote chain's verification as the file verify prints its own; the exit status. */
function printRemote(r: RemoteVerifyResult, vm: string, keyed: boolean, out: (s: string) => void, err: (s: string) => void): number {
  if (r.empty) {
    out(`no audit record of ${vm} in ${r.source}`);
    return 1;
  }
  const rep = r.report;
  const range = rep.lastSeq !== undefined ? ` (seq ${rep.firstSeq}..${rep.lastSeq})` : '';
  if (rep.startsMidChain) err(`note: the chain in ${r.source} starts at seq ${rep.firstSeq ?? rep.broken?.seq}: its link to earlier records (not there) is not checked`);
  if (!rep.ok) {
    out(`BROKEN: ${r.source}: ${describeBreak(rep.broken!)}`);
    out(`${rep.records} record(s) before it verified${range}`);
    return 1;
  }
  out(`ok: ${rep.records} record(s), seq ${rep.firstSeq}..${rep.lastSeq} in ${r.source}, chain ${rep.alg ?? (keyed ? 'hmac-sha256' : 'sha256')}, head ${rep.head}`);
  return 0;
}

/** A break named by the seq of the record missing or altered, and where in the source. */
export function describeBreak(b: ChainBreak & { at: string }): string {
  const e = b.expectedSeq;
  if (b.kind === 'seq' && e !== undefined && b.seq !== undefined) {
    if (b.seq > e) return `record seq ${e}${b.seq - 1 > e ? `..${b.seq - 1}` : ''} missing: the next record there is seq ${b.seq}, at ${b.at}`;
    return `record seq ${b.seq} at ${b.at} is out of place: expected seq ${e} (a record repeated, or another chain from here)`;
  }
  if (b.seq === undefined) return `at ${b.at}${e !== undefined ? `, where record seq ${e} belongs` : ''}: ${b.reason}`;
  return `record seq ${b.seq} at ${b.at}: ${b.reason}`;
}
