/** Shared bits of the audit shipping tests: a real hmp-audit log in front of a real QEMU, a real nats-server, reading both back. */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { listSegments, readRecords, type AuditRecord } from '@qmpmux/audit-log';
import type { PluginSpec } from '@qmpmux/core';
import { until } from '@qmpmux/e2e';
import { hmpAuditPlugin } from '@qmpmux/plugin-hmp-audit';
import { QmpClient } from '@qmpmux/client';

/** Until the connection is up again after an outage (a request made before that is dropped on reconnect). */
export async function reconnected(nc: NatsConnection): Promise<void> {
  await until(async () => {
    try {
      await Promise.race([nc.rtt(), sleep(1000).then(() => Promise.reject(new Error('no pong')))]);
      return true;
    } catch {
      return false;
    }
  }, 'the connection is up again');
}

/** The hmp-audit plugin writing `path`. */
export function auditPlugin(path: string, options: Record<string, unknown> = {}): PluginSpec {
  return { definition: hmpAuditPlugin, options: { path, fsync: 'batch', ...options } };
}

export const hmp = (c: QmpClient, line: string) => c.execute<string>('human-monitor-command', { 'command-line': line });

/** Every record of the local log, rotated segments first: the source of truth. */
export function localRecords(path: string): AuditRecord[] {
  return [...listSegments(path).map((s) => s.file), path].flatMap((f) => {
    try {
      return readRecords(f);
    } catch {
      return []; // not there (yet)
    }
  });
}

/** The raw lines of the local log (JSON lines), rotated segments first, without their line ends. */
export function localLines(path: string): string[] {
  return [...listSegments(path).map((s) => s.file), path].flatMap((f) => {
    try {
      return readFileSync(f, 'utf8').split('\n').slice(0, -1);
    } catch {
      return [];
    }
  });
}

export interface StreamedRecord {
  streamSeq: number;
  subject: string;
  record: AuditRecord;
  payload: string;
  headers: Record<string, string | undefined>;
}

/** Every message of a stream on one subject, read message by message by stream seq (not through a consumer). */
export async function streamMessages(nc: NatsConnection, stream: string, subject: string): Promise<StreamedRecord[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const out: StreamedRecord[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null); // deleted
    if (!m || m.subject !== subject) continue;
    const payload = Buffer.from(m.data).toString('utf8');
    out.push({
      streamSeq: m.seq,
      subject: m.subject,
      record: JSON.parse(payload) as AuditRecord,
      payload,
      headers: { id: m.header.get('Nats-Msg-Id'), seq: m.header.get('Qmpmux-Audit-Seq'), host: m.header.get('Qmpmux-Host') },
    });
  }
  return out;
}

/** How many messages the stream holds on a subject (0 when the stream does not exist yet). */
export async function countOnSubject(nc: NatsConnection, stream: string, subject: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  try {
    const info = await jsm.streams.info(stream, { subjects_filter: subject });
    return (info.state.subjects as Record<string, number> | undefined)?.[subject] ?? 0;
  } catch {
    return 0;
  }
}

/**
 * The stream holds exactly the local log (but its last `notYetShipped` records), once each, in order:
 * same seqs and hashes, the payload is the record's line, headers as the shipper sets them.
 */
export function sameAsLog(streamed: StreamedRecord[], path: string, host: string, notYetShipped = 0): string | undefined {
  const local = localRecords(path).slice(0, -notYetShipped || undefined);
  const lines = localLines(path);
  if (streamed.length !== local.length) {
    const seqs = streamed.map((s) => s.record.seq);
    const dup = seqs.filter((x, i) => seqs.indexOf(x) !== i);
    const have = new Set(seqs);
    const missing = local.filter((r) => !have.has(r.seq)).map((r) => r.seq);
    return `stream holds ${streamed.length} records, the log ${local.length} (duplicated seqs: ${dup.slice(0, 10).join(',') || 'none'}; missing: ${missing.slice(0, 10).join(',') || 'none'})`;
  }
  for (let i = 0; i < local.length; i++) {
    const s = streamed[i]!;
    const r = local[i]!;
    if (s.record.seq !== r.seq || s.record.hash !== r.hash) return `at ${i}: stream has seq ${s.record.seq}, the log seq ${r.seq}`;
    if (s.headers.id !== `${s.subject.split('.').at(-2)}.${r.hash}` || s.headers.seq !== String(r.seq) || s.headers.host !== host) return `at ${i}: headers ${JSON.stringify(s.headers)}`;
    if (s.payload !== lines[i]) return `at ${i} (seq ${r.seq}): the payload is not the log's line`;
  }
  return undefined;
}

/** Clients sending HMP commands one after the other until stopped (or, `untilClosed`, qmpmux goes away); counts the replies. */
export function traffic(address: string, opts: { clients?: number; untilClosed?: boolean } = {}): { replies: () => number; stop(): Promise<void> } {
  let replies = 0;
  let running = true;
  const loops = Array.from({ length: opts.clients ?? 2 }, async (_, ci) => {
    const c = await QmpClient.connect(address);
    try {
      for (let i = 1; running; i++) {
        let text: string;
        try {
          text = await hmp(c, `p ${ci * 1_000_000 + i}`);
        } catch (e) {
          if (opts.untilClosed) return; // qmpmux went away
          throw e;
        }
        if (text !== `0x${(ci * 1_000_000 + i).toString(16)}\r\n`) throw new Error(`p ${ci * 1_000_000 + i} answered ${JSON.stringify(text)}`);
        replies++;
      }
    } finally {
      c.close();
    }
  });
  const settled = Promise.all(loops).then(
    () => undefined,
    (e: unknown) => e,
  );
  return {
    replies: () => replies,
    async stop() {
      running = false;
      const e = await settled;
      if (e) throw e;
    },
  };
}
