/**
 * `qmpmux fleet ls|events|exec`: the fleet as NATS sees it (plugins/nats, docs/nats.md) — the VM
 * inventory, every host's events replayed and tailed from JetStream, and commands through a VM's
 * gateway.
 */
import { parseMessage, toPlain, type JsonPlain } from '@qmpmux/protocol';
import { checkTlsFiles, connectFailure, Fleet, readCredsFile, verifyAuditStream, type EventQuery, type FleetOptions, type InventoryEntry, type TlsFiles } from '@qmpmux/plugin-nats';
import { AuditUsageError, type RemoteVerifyOptions, type RemoteVerifyResult } from '@qmpmux/audit-log';
import { numberOpt, parseArgs, UsageError, wantsHelp } from './args.ts';
import { CliFailure } from './connect.ts';
import { formatEvent } from './events.ts';
import { ShellSyntaxError, parseArgsWords } from './grammar.ts';

export const FLEET_USAGE = `usage: qmpmux fleet ls [--json] [--bucket NAME] [CONNECTION]
       qmpmux fleet events [--vm GLOB] [--event NAME] [--since SEQ|TIME] [--follow] [--timestamp]
                           [--pretty] [--stream NAME] [CONNECTION]
       qmpmux fleet exec --vm VM [--timeout S] [--pretty] [CONNECTION] COMMAND [key=value]...
The fleet as NATS sees it: every qmpmux with the nats plugin (docs/nats.md).
  ls        the VMs in the inventory (KV bucket QMPMUX_VMS): host, pid, QEMU, upstream, listeners, clients
            --json  the entries as JSON
  events    QEMU's events of every host, from the stream QMPMUX_EVENTS, printed like qmpmux events
            (prefixed with the VM's name); a gap (events a host had to drop) is reported on stderr
            --vm GLOB      only these VMs (* and ?)      --event NAME   only this event
            --since SEQ    from this stream sequence     --since TIME   from this time (ISO 8601)
            --follow       then wait for new ones (Ctrl-C ends)
            --timestamp    prefix QEMU's timestamp       --pretty       indented JSON
  exec      run one command on a VM through its NATS gateway (as the gateway's principal) and print
            the reply as QEMU wrote it; COMMAND [key=value]... is qmpmux shell's grammar (or raw JSON)
            --timeout S    wait at most S seconds for the reply (default 10)
CONNECTION (the nats plugin's servers, credentials and tls options):
  --nats URL       the NATS server (default nats://127.0.0.1:4222; repeatable); tls://HOST:PORT: TLS
  --creds FILE     a NATS creds file (user JWT and nkey seed); or user and password from
                   $QMPMUX_NATS_USER and $QMPMUX_NATS_PASSWORD, or a token from $QMPMUX_NATS_TOKEN
  --tls-ca FILE    TLS, trusting server certificates this CA signed (default: the system's CAs)
  --tls-cert FILE  TLS with this client certificate (PEM), for a server that requires one
  --tls-key FILE   its key (PEM); --tls-cert and --tls-key go together
  --prefix P       the nats plugin's subjectPrefix (default qmpmux)
Exit status: 0 done (exec: a "return" reply), 1 a failure or (exec) an error reply, 2 usage.
Examples:
  qmpmux fleet ls --nats nats://nats.example:4222
  qmpmux fleet ls --nats tls://nats.example:4222 --tls-ca ca.pem --creds qmpmux.creds
  qmpmux fleet events --vm 'web-*' --event SHUTDOWN --since 2024-05-01T00:00:00Z
  qmpmux fleet events --follow --timestamp
  qmpmux fleet exec --vm vm1 query-status
  qmpmux fleet exec --vm vm1 human-monitor-command command-line="info block"`;

/** The options every fleet command takes (CONNECTION), beside its own. */
const CONNECTION = { values: ['prefix', 'creds', 'tls-ca', 'tls-cert', 'tls-key'], repeat: ['nats'] } as const;

const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<number>> = { ls, events, exec };

export async function fleet(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined) throw new UsageError(`missing fleet command (one of: ${Object.keys(SUBCOMMANDS).join(', ')})`);
  if (wantsHelp([sub])) return (process.stdout.write(FLEET_USAGE + '\n'), 0);
  const run = Object.hasOwn(SUBCOMMANDS, sub) ? SUBCOMMANDS[sub] : undefined;
  if (!run) throw new UsageError(`unknown fleet command '${sub}' (one of: ${Object.keys(SUBCOMMANDS).join(', ')})`);
  if (wantsHelp(rest)) return (process.stdout.write(FLEET_USAGE + '\n'), 0);
  return run(rest);
}

const NAME = /^[A-Za-z0-9_-]+$/;

function common(opts: Record<string, string | string[] | boolean>): FleetOptions {
  const servers = (opts.nats as string[] | undefined) ?? ['nats://127.0.0.1:4222'];
  for (const s of servers) {
    if (!/^(nats|tls):\/\/[^/@]+$/.test(s) && !/^[^/:@]+:\d+$/.test(s)) throw new UsageError(`bad --nats '${s}' (expected nats://HOST:PORT, tls://HOST:PORT or HOST:PORT; credentials go in --creds or the environment)`);
  }
  const prefix = opts.prefix as string | undefined;
  if (prefix !== undefined && !prefix.split('.').every((t) => NAME.test(t))) throw new UsageError(`bad --prefix '${prefix}' (subject tokens of A-Z a-z 0-9 _ -, separated by dots)`);
  const out: FleetOptions = { servers, subjectPrefix: prefix, tls: tlsFiles(opts) };
  const env = process.env;
  if (opts.creds !== undefined) {
    try {
      out.creds = readCredsFile(opts.creds as string);
    } catch (e) {
      throw new UsageError(`--creds: ${(e as Error).message}`);
    }
  } else if (env.QMPMUX_NATS_TOKEN) out.token = env.QMPMUX_NATS_TOKEN;
  else if (env.QMPMUX_NATS_USER) Object.assign(out, { user: env.QMPMUX_NATS_USER, password: env.QMPMUX_NATS_PASSWORD });
  return out;
}

/** --tls-ca, --tls-cert, --tls-key: TLS (undefined when none is given). */
function tlsFiles(opts: Record<string, string | string[] | boolean>): TlsFiles | undefined {
  const t: TlsFiles = { ca: opts['tls-ca'] as string | undefined, cert: opts['tls-cert'] as string | undefined, key: opts['tls-key'] as string | undefined };
  if (t.ca === undefined && t.cert === undefined && t.key === undefined) return undefined;
  const bad = checkTlsFiles(t);
  if (bad) throw new UsageError(`--tls-${bad.field}: ${bad.problem}`);
  return t;
}

function nameOpt(opts: Record<string, unknown>, key: string): string | undefined {
  const v = opts[key] as string | undefined;
  if (v !== undefined && !NAME.test(v)) throw new UsageError(`bad --${key} '${v}' (A-Z a-z 0-9 _ - only)`);
  return v;
}

async function open(o: FleetOptions, who = 'qmpmux fleet: '): Promise<Fleet> {
  try {
    return await Fleet.open(o);
  } catch (e) {
    throw new CliFailure(`${who}cannot connect to NATS ${o.servers.join(', ')}: ${connectFailure(e, o.tls, { ca: '--tls-ca', cert: '--tls-cert' }).text}`);
  }
}

/**
 * `qmpmux audit verify --nats URL --vm VM`: the verifier the audit command is given, connecting as the
 * fleet commands do (the same flags, environment and messages) and reading the chain back from the
 * stream with the NATS plugin's verifier.
 */
export async function auditVerifyAtNats(o: RemoteVerifyOptions): Promise<RemoteVerifyResult> {
  let c: FleetOptions;
  try {
    c = common({ nats: o.url.split(','), ...o.connection });
  } catch (e) {
    throw e instanceof UsageError ? new AuditUsageError(e.message) : e;
  }
  const f = await open(c, '');
  try {
    return await verifyAuditStream({ nc: f.nc, vm: o.vm, subjectPrefix: o.subjectPrefix, stream: o.stream, key: o.key });
  } finally {
    await f.close();
  }
}

async function ls(argv: string[]): Promise<number> {
  const { opts, rest } = parseArgs(argv, { values: [...CONNECTION.values, 'bucket'], repeat: CONNECTION.repeat, bools: ['json'] });
  if (rest.length) throw new UsageError(`unexpected argument '${rest[0]}'`);
  const c = common(opts);
  const f = await open({ ...c, inventoryBucket: nameOpt(opts, 'bucket') });
  try {
    const list = await f.ls();
    process.stdout.write((opts.json ? JSON.stringify(list, null, 2) : formatInventory(list)) + '\n');
    return 0;
  } finally {
    await f.close();
  }
}

/** The inventory as a table, one row per VM. */
export function formatInventory(list: readonly InventoryEntry[]): string {
  const head = ['VM', 'HOST', 'PID', 'QEMU', 'UPSTREAM', 'STATE', 'CLIENTS', 'LISTENERS', 'UPDATED'];
  const rows = list.map((e) => [e.vm, e.host, String(e.pid), e.qemuVersion ?? '-', e.upstream.address, e.upstream.state, String(e.clients), e.listeners.join(',') || '-', e.updatedAt]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

function since(text: string | undefined): EventQuery['since'] {
  if (text === undefined) return undefined;
  if (/^\d+$/.test(text)) {
    const seq = Number(text);
    if (seq < 1 || !Number.isSafeInteger(seq)) throw new UsageError(`--since ${text}: a stream sequence starts at 1`);
    return { seq };
  }
  const t = Date.parse(text);
  if (!/^\d{4}-\d\d-\d\d/.test(text) || Number.isNaN(t)) throw new UsageError(`--since needs a stream sequence or an ISO 8601 time (2024-05-01T12:00:00Z), got '${text}'`);
  return { time: new Date(t) };
}

async function events(argv: string[]): Promise<number> {
  const { opts, rest } = parseArgs(argv, { values: [...CONNECTION.values, 'vm', 'event', 'since', 'stream'], repeat: CONNECTION.repeat, bools: ['follow', 'timestamp', 'pretty'] });
  if (rest.length) throw new UsageError(`unexpected argument '${rest[0]}'`);
  const c = common(opts);
  const vm = opts.vm as string | undefined;
  if (vm !== undefined && !/^[A-Za-z0-9_*?-]{1,64}$/.test(vm)) throw new UsageError(`bad --vm '${vm}' (a VM name, or a glob with * and ?)`);
  const event = nameOpt(opts, 'event');
  const query: EventQuery = { vm, event, since: since(opts.since as string | undefined), follow: opts.follow === true };
  const f = await open({ ...c, eventsStream: nameOpt(opts, 'stream'), reconnect: query.follow });
  const abort = new AbortController();
  const onSig = () => abort.abort();
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  try {
    for await (const m of f.events(query, abort.signal)) {
      if (m.kind === 'gap') {
        const g = m.gap;
        process.stderr.write(`qmpmux fleet events: ${m.vm}: gap: ${g.dropped} event(s) dropped by the publisher (seq ${g.fromSeq}..${g.toSeq} of epoch ${g.epoch}; ${g.reason})\n`);
        continue;
      }
      const raw = m.raw.toString('latin1').replace(/\r?\n$/, '');
      const node = parseMessage(raw);
      const value = (node ? toPlain(node) : {}) as Record<string, JsonPlain>;
      process.stdout.write(formatEvent(value, raw, { pretty: opts.pretty === true, timestamp: opts.timestamp === true, label: m.vm }) + '\n');
    }
    return 0;
  } catch (e) {
    throw new CliFailure(`qmpmux fleet events: ${(e as Error).message}`);
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
    await f.close();
  }
}

async function exec(argv: string[]): Promise<number> {
  const { opts, rest } = parseArgs(argv, { values: [...CONNECTION.values, 'vm', 'timeout'], repeat: CONNECTION.repeat, bools: ['pretty'] });
  const c = common(opts);
  const vm = opts.vm as string | undefined;
  if (vm === undefined) throw new UsageError('missing --vm VM');
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(vm)) throw new UsageError(`bad --vm '${vm}' (a VM name)`);
  if (!rest.length) throw new UsageError('missing COMMAND');
  const timeout = numberOpt(opts, 'timeout', false) ?? 10;
  let request: string;
  try {
    // The shell has split the words already: COMMAND key=value... in qmpmux shell's grammar, or raw JSON.
    if (rest[0]!.trimStart().startsWith('{')) request = rest.join(' ');
    else {
      const args = parseArgsWords(rest.slice(1));
      request = JSON.stringify({ execute: rest[0], ...(rest.length > 1 ? { arguments: args } : {}) });
    }
  } catch (e) {
    if (e instanceof ShellSyntaxError) throw new UsageError(e.message);
    throw e;
  }
  const f = await open(c);
  let reply: Buffer;
  try {
    reply = await f.exec(vm, Buffer.from(request, 'utf8'), timeout * 1000);
  } catch (e) {
    const why = (e as Error).message;
    if (/no responders|503/i.test(why)) throw new CliFailure(`qmpmux fleet exec: no qmpmux serves VM '${vm}' (nobody answers on ${f.gatewaySubject(vm)})`);
    throw new CliFailure(`qmpmux fleet exec: ${why}`);
  } finally {
    await f.close();
  }
  const text = reply.toString('latin1').replace(/\r?\n$/, '');
  const node = parseMessage(text);
  const value = (node ? toPlain(node) : undefined) as Record<string, JsonPlain> | undefined;
  process.stdout.write((opts.pretty && value ? JSON.stringify(value, (_k, x) => (typeof x === 'bigint' ? x.toString() : x), 4) : text) + '\n');
  return value && 'return' in value ? 0 : 1;
}
