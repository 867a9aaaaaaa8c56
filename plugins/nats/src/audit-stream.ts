/**
 * The audit records' stream in JetStream (issue 13, docs/nats.md "Audit records"): stream
 * `QMPMUX_AUDIT` (file storage, subjects `<p>.*.audit`), subject `<p>.<vm>.audit`, one message per
 * record. The payload is the record as a JSON line of the local log without its line end (for a msgpack
 * log: the same bytes, the canonical JSON the hash covers with `"hash"` last); headers `Nats-Msg-Id`
 * (`<vm>.<record hash>`), `Qmpmux-Audit-Seq` (its seq), `Qmpmux-Host`.
 */
import { JetStreamApiCodes, JetStreamApiError, StorageType, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import { checkShape, type AuditRecord } from '@qmpmux/audit-log';

export const DEFAULT_AUDIT_STREAM = 'QMPMUX_AUDIT';
/** JetStream drops a message whose Nats-Msg-Id it stored this recently (stream option `duplicate_window`). */
export const DEFAULT_AUDIT_DUPLICATE_WINDOW_MS = 120_000;
export const AUDIT_SEQ_HEADER = 'Qmpmux-Audit-Seq';
export const HOST_HEADER = 'Qmpmux-Host';
export const MSG_ID_HEADER = 'Nats-Msg-Id';

export function auditSubject(subjectPrefix: string, vm: string): string {
  return `${subjectPrefix}.${vm}.audit`;
}

/**
 * A record's Nats-Msg-Id: the VM's name and the record's hash. JetStream deduplicates across the whole
 * stream, and two VMs' logs can hold the same record (logs started in the same millisecond by one
 * process begin with identical `file` and `start` records; a log copied to another VM): the hash alone
 * would make one VM's record a "duplicate" of the other's and never store it on its own subject.
 */
export function auditMsgId(vm: string, hash: string): string {
  return `${vm}.${hash}`;
}

export function auditStreamSubjects(subjectPrefix: string): string {
  return `${subjectPrefix}.*.audit`;
}

export interface AuditStreamOptions {
  /** Stream name (default QMPMUX_AUDIT). */
  stream: string;
  subjectPrefix: string;
  /** Used only when the stream is created (default 2 min). */
  duplicateWindowMs?: number;
}

const isApiError = (e: unknown, code: number) => e instanceof JetStreamApiError && e.code === code;

/**
 * Make sure the stream exists and captures `<p>.*.audit`: created when absent (file storage, limits
 * retention, no age or size limit: retention is the operator's, as for the local log). An existing stream
 * is left as it is, but one that does not capture the audit subjects is an error (a stream of that name
 * made for something else).
 */
export async function ensureAuditStream(jsm: JetStreamManager, opts: AuditStreamOptions): Promise<void> {
  const subjects = auditStreamSubjects(opts.subjectPrefix);
  for (let attempt = 0; ; attempt++) {
    try {
      const info = await jsm.streams.info(opts.stream);
      const have = info.config.subjects ?? [];
      if (!have.some((s) => s === subjects || s === `${opts.subjectPrefix}.>` || s === '>')) {
        throw new Error(`the JetStream stream ${opts.stream} exists but does not capture ${subjects} (its subjects: ${have.join(', ') || 'none'}): give the audit records another stream name, or add the subject`);
      }
      return;
    } catch (e) {
      if (!isApiError(e, JetStreamApiCodes.StreamNotFound)) throw e;
    }
    try {
      await jsm.streams.add({
        name: opts.stream,
        subjects: [subjects],
        storage: StorageType.File,
        duplicate_window: (opts.duplicateWindowMs ?? DEFAULT_AUDIT_DUPLICATE_WINDOW_MS) * 1_000_000,
        description: 'qmpmux audit records (hash-chained), one subject per VM',
      });
      return;
    } catch (e) {
      // Another shipper created it meanwhile (with another config): look again, once.
      if (attempt > 0) throw e;
    }
  }
}

/** What the stream holds last for one VM: the stream's seq of that message and the record it carries. */
export interface StreamTail {
  streamSeq: number;
  seq: number;
  hash: string;
}

/** The last record the stream holds on `subject`, or undefined when it holds none. */
export async function lastAuditRecord(jsm: JetStreamManager, stream: string, subject: string): Promise<StreamTail | undefined> {
  let m: StoredMsg | null;
  try {
    m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
  } catch (e) {
    if (isApiError(e, JetStreamApiCodes.NoMessageFound)) return undefined;
    throw e;
  }
  if (!m) return undefined;
  const rec = decodeAuditPayload(m.data);
  if (typeof rec === 'string') throw new Error(`the last message on ${subject} in ${stream} (stream seq ${m.seq}) is not an audit record: ${rec}`);
  return { streamSeq: m.seq, seq: rec.seq, hash: rec.hash };
}

/** Parse a message's payload as an audit record; a string says why it is not one. */
export function decodeAuditPayload(data: Uint8Array): AuditRecord | string {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch (e) {
    return `not valid JSON (${(e as Error).message})`;
  }
  const bad = checkShape(v);
  if (bad) return `not an audit record (${bad})`;
  return v as AuditRecord;
}
