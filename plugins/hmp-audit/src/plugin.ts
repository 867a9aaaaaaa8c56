/**
 * plugins/hmp-audit — who ran what through `human-monitor-command` (and, optionally, every QMP command),
 * in a tamper-evident log, with allow/deny rules by HMP command name.
 *
 * onCommand (in order): parse the HMP line, decide, and write a `command` record before anything runs.
 *   A refused command is answered here with a GenericError naming the rule; it never reaches QEMU.
 *   When the record cannot be written, the command is refused (failClosed) or runs unrecorded.
 *   fsync "always": the command goes on only once its record is on disk.
 * onReply (reverse order): a `reply` record (outcome, duration) linked to the command's seq through
 *   CommandContext.state. fsync "always": written, and the reply released only once it is on disk.
 *   fsync "batch": the reply leaves first and its record is written in the same turn of the event loop
 *   (setImmediate), off the reply's path; a crash in between loses that outcome, never the command.
 * Replies qmpmux produces itself (the QEMU link lost) pass too, with source 'qmpmux': their outcome is
 * recorded like any other. Options other than the log's own can change on SIGHUP (reconfigure).
 * Metrics (PluginContext.metrics): records written by type, writes and fsyncs that failed.
 */
import { hostname } from 'node:os';
import { peerRecord, refuse, type ClientInfo, type CommandContext, type CommandVerdict, type JsonPlain, type Plugin, type PluginContext, type PluginDefinition, type ReplyContext } from '@qmpmux/core';
import { AuditWriteError, AuditWriter, parseHmp, recordString, recordValue } from '@qmpmux/audit-log';
import { classifyHmpText, redactHmpLine } from './hmp.ts';
import { validateOptions, type HmpAuditOptions } from './options.ts';
import { compileRedactions, DEFAULT_REDACTIONS, redactArguments } from './redact.ts';
import { Policy, type Decision } from './rules.ts';

const NAME = 'hmp-audit';
const HMP = 'human-monitor-command';

interface Pending {
  seq: number;
  principal: string | undefined;
  hmpName: string | undefined;
}

export const hmpAuditPlugin: PluginDefinition<HmpAuditOptions> = {
  name: NAME,
  // It records the principal, which the policy plugin sets.
  after: ['policy'],
  validate: validateOptions,
  create: (o, ctx) => createHmpAudit(o, ctx),
};

export function createHmpAudit(o: HmpAuditOptions, ctx: PluginContext): Plugin<HmpAuditOptions> {
  const recorded = ctx.metrics.counter('qmpmux_audit_records_total', 'Audit records hmp-audit wrote, by record type', ['type']);
  const failures = ctx.metrics.counter('qmpmux_audit_write_failures_total', 'Audit log writes (write) and fsyncs (fsync) that failed', ['stage']);
  const opened = AuditWriter.open({
    path: o.path,
    format: o.format,
    fsync: o.fsync,
    batchMaxRecords: o.batchMaxRecords,
    batchMaxDelayMs: o.batchMaxDelayMs,
    rotateBytes: o.rotateBytes,
    key: o.key,
    fileMode: o.fileMode,
    log: ctx.log,
    onFailure: (stage) => failures.inc({ stage }),
  });
  // Every record written is counted (metrics); a failed one is counted by onFailure above.
  const writer = {
    append(type: string, fields: Record<string, unknown>) {
      const r = opened.append(type, fields);
      recorded.inc({ type });
      return r;
    },
    whenDurable: (seq: number) => opened.whenDurable(seq),
    close: () => opened.close(),
  };
  let policy = new Policy(o);
  let redactions = compileRedactions([...(o.redactDefaults ? DEFAULT_REDACTIONS : []), ...o.redact]);
  const clip = (s: string) => (s.length > o.maxTextBytes ? { text: recordString(s.slice(0, o.maxTextBytes)), truncated: true } : { text: recordString(s) });
  const strict = o.fsync === 'always';

  try {
    writer.append('start', { pid: process.pid, host: hostname(), fsync: o.fsync, failClosed: o.failClosed, auditAllQmp: o.auditAllQmp, format: o.format });
  } catch {
    /* logged by the writer; audited commands will find out */
  }

  const unlogged = (cmd: CommandContext, e: unknown): CommandVerdict => {
    const why = e instanceof AuditWriteError ? (e.sysCode ?? e.message) : (e as Error).message;
    return refuse('AUDIT_LOG_UNWRITABLE', why, cmd.command);
  };

  const writeReply = (rec: Record<string, unknown>): number | undefined => {
    try {
      return writer.append('reply', rec).seq;
    } catch (e) {
      ctx.log.error(`reply of record ${rec.ref} not recorded: ${(e as Error).message}`);
      return undefined;
    }
  };
  let deferred: (() => Record<string, unknown>)[] = [];
  const writeDeferred = () => {
    const list = deferred;
    deferred = [];
    for (const build of list) writeReply(build());
  };
  const replyRecord = (p: Pending, reply: ReplyContext, durationMs: number): Record<string, unknown> => {
    const res = reply.result();
    let outcome: Record<string, unknown>;
    if ('error' in res) outcome = { status: 'error', error: { class: recordString(String(res.error.class)), desc: recordString(String(res.error.desc)) } };
    else if (p.hmpName !== undefined && typeof res.return === 'string') {
      const failure = classifyHmpText(res.return);
      outcome = { status: failure ? 'failed' : 'ok', ...clip(res.return) };
      if (failure) outcome.failure = failure;
    } else outcome = { status: 'ok' };
    const rec: Record<string, unknown> = { ref: p.seq, client: reply.command.client.id, qmp: recordString(reply.command.command) };
    if (p.principal !== undefined) rec.principal = recordString(p.principal);
    if (reply.executed !== reply.command.command) rec.executed = recordString(reply.executed);
    if (p.hmpName !== undefined) rec.hmp = { name: recordString(p.hmpName) };
    Object.assign(rec, { source: reply.source, outcome, durationMs });
    return rec;
  };

  return {
    name: NAME,

    async onCommand(cmd) {
      const isHmp = cmd.command === HMP;
      if (!isHmp && !o.auditAllQmp) return;
      const principal = cmd.client.principal;
      // Strings a client chose pass recordString/recordValue (stored as they will read back).
      const rec: Record<string, unknown> = { client: cmd.client.id, conn: connection(cmd.client), qmp: recordString(cmd.command) };
      if (principal !== undefined) rec.principal = recordString(principal);
      if (cmd.idText !== undefined) rec.id = recordString(cmd.idText.length > 256 ? cmd.idText.slice(0, 256) + '…' : cmd.idText);
      let decision: Decision = { allowed: true, rule: 'default:allow' };
      let hmpName: string | undefined;
      if (isHmp) {
        const line = cmd.arguments?.['command-line'];
        const cpu = cmd.arguments?.['cpu-index'];
        const hmp: Record<string, unknown> = {};
        if (typeof line === 'string') {
          const parsed = parseHmp(line);
          hmpName = parsed.name;
          const redactedLine = redactHmpLine(line, parsed);
          const { text, truncated } = clip(redactedLine ?? line);
          Object.assign(hmp, { line: text, name: recordString(parsed.name) });
          if (parsed.alias) hmp.alias = parsed.alias;
          if (truncated) hmp.truncated = true;
          if (redactedLine !== undefined) rec.redacted = true;
          decision = policy.decide(principal, parsed.name);
        } else hmp.line = null; // QEMU refuses it itself
        if (cpu !== undefined) hmp.cpuIndex = recordValue(cpu as JsonPlain);
        if (cmd.arguments) {
          const extra = Object.keys(cmd.arguments).filter((k) => k !== 'command-line' && k !== 'cpu-index');
          if (extra.length) hmp.otherArguments = extra.map(recordString);
        }
        rec.hmp = hmp;
      } else if (cmd.arguments) {
        const r = redactArguments(cmd.command, cmd.arguments, redactions);
        rec.arguments = recordValue(r.args);
        if (r.redacted) rec.redacted = true;
      }
      rec.decision = decision;
      const refusal: CommandVerdict | undefined = decision.allowed
        ? undefined
        : refuse('HMP_REFUSED', hmpName ?? '', decision.rule, principal);
      let seq: number;
      try {
        seq = writer.append('command', rec).seq;
      } catch (e) {
        if (refusal) return refusal;
        if (o.failClosed) return unlogged(cmd, e);
        return; // fail-open: runs unrecorded; the writer's `gap` record counts it
      }
      if (refusal) return refusal;
      cmd.state.set(NAME, { seq, principal, hmpName } satisfies Pending);
      if (strict) {
        try {
          await writer.whenDurable(seq);
        } catch (e) {
          if (o.failClosed) {
            cmd.state.delete(NAME);
            return unlogged(cmd, e);
          }
        }
      }
    },

    async onReply(reply) {
      const p = reply.command.state.get(NAME) as Pending | undefined;
      if (!p) return;
      const durationMs = Math.round(Number(process.hrtime.bigint() - reply.command.receivedAt) / 1e3) / 1e3;
      if (!strict) {
        // batch: the reply leaves first; its record is built and written in this same turn of the
        // event loop, off the reply's path.
        if (!deferred.length) setImmediate(writeDeferred);
        deferred.push(() => replyRecord(p, reply, durationMs));
        return;
      }
      const seq = writeReply(replyRecord(p, reply, durationMs));
      if (seq !== undefined) await writer.whenDurable(seq).catch((e: Error) => ctx.log.error(`reply record ${seq} not durable: ${e.message}`));
    },

    /**
     * SIGHUP reload: rules, operators, redactions, auditAllQmp, failClosed and text limits change at
     * once; what the open log depends on (path, format, fsync, batching, rotation, key, file mode)
     * needs a restart, and asking for it changes nothing.
     */
    async reconfigure(n) {
      const fixed = (['path', 'format', 'fsync', 'batchMaxRecords', 'batchMaxDelayMs', 'rotateBytes', 'fileMode'] as const).filter((k) => n[k] !== o[k]);
      const sameKey = n.key === o.key || (n.key !== undefined && o.key !== undefined && n.key.equals(o.key));
      if (fixed.length || !sameKey) throw new Error(`cannot change ${[...fixed, ...(sameKey ? [] : ['key'])].join(', ')} while the log is open; restart qmpmux`);
      const nextPolicy = new Policy(n);
      const nextRedactions = compileRedactions([...(n.redactDefaults ? DEFAULT_REDACTIONS : []), ...n.redact]);
      o = n;
      policy = nextPolicy;
      redactions = nextRedactions;
      ctx.log.info('hmp-audit reconfigured');
    },

    async close() {
      writeDeferred();
      try {
        writer.append('stop', { pid: process.pid });
      } catch {
        /* logged by the writer */
      }
      await writer.close();
    },
  };
}

const connections = new WeakMap<ClientInfo, Record<string, unknown>>();

/** Where a client is connected from: transport, address, and pid/uid/gid (unix) or certificate subject. */
function connection(c: ClientInfo): Record<string, unknown> {
  let conn = connections.get(c);
  if (!conn) connections.set(c, (conn = describePeer(c)));
  return conn;
}

function describePeer(c: ClientInfo): Record<string, unknown> {
  const out: Record<string, unknown> = peerRecord(c.peer);
  out.address = recordString(c.peer.address);
  if (c.peer.certificate) out.certificate = recordString(c.peer.certificate.subject);
  return out;
}
