/**
 * `qmpmux audit verify --nats URL --vm VM`: read a VM's audit records back from JetStream (an ordered
 * consumer over `<p>.<vm>.audit`, up to the last message there when verification starts) and verify
 * the chain with the audit log's own verifier (`verifyChain` of @qmpmux/audit-log): each record follows
 * the one before, hashes to its hash, is stored in exactly the bytes the writer produces (a JSON line
 * without its line end), and carries the headers the shipper set (Nats-Msg-Id = `<vm>.<hash>`,
 * Qmpmux-Audit-Seq = seq). Memory: one fetched batch at a time.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, type JsMsg } from '@nats-io/jetstream';
import { verifyChain, type ChainItem, type RemoteVerifyResult } from '@qmpmux/audit-log';
import { AUDIT_SEQ_HEADER, auditMsgId, auditSubject, decodeAuditPayload, DEFAULT_AUDIT_STREAM, MSG_ID_HEADER } from './audit-stream.ts';

export interface StreamVerifyOptions {
  nc: NatsConnection;
  vm: string;
  /** Default `qmpmux`. */
  subjectPrefix?: string;
  /** Default QMPMUX_AUDIT. */
  stream?: string;
  /** The chain's HMAC key, when it is keyed. */
  key?: Buffer;
  /** Messages fetched at a time (default 256). */
  batch?: number;
  /** How long one fetch waits for messages before verification gives up (default 10000 ms). */
  fetchTimeoutMs?: number;
}

/** Verify the chain of one VM's audit records in the stream. `at` in the report: `stream seq N`. */
export async function verifyAuditStream(opts: StreamVerifyOptions): Promise<RemoteVerifyResult> {
  const stream = opts.stream ?? DEFAULT_AUDIT_STREAM;
  const subject = auditSubject(opts.subjectPrefix ?? 'qmpmux', opts.vm);
  const source = `stream ${stream} (${subject})`;
  const jsm = await jetstreamManager(opts.nc);
  let last;
  try {
    last = await jsm.streams.getMessage(stream, { last_by_subj: subject });
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) throw new Error(`there is no JetStream stream ${stream}`);
    if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.NoMessageFound)) throw e;
  }
  if (!last) return { source, empty: true, report: await verifyChain<string>([], { key: opts.key }) };
  const consumer = await jetstream(opts.nc).consumers.get(stream, { filter_subjects: subject });
  const batch = opts.batch ?? 256;
  const expires = opts.fetchTimeoutMs ?? 10_000;
  const lastSeq = last.seq;
  async function* items(): AsyncGenerator<ChainItem<string>> {
    let seen = 0;
    while (seen < lastSeq) {
      const msgs = await consumer.fetch({ max_messages: batch, expires });
      let got = 0;
      for await (const m of msgs) {
        got++;
        seen = m.seq;
        yield item(m, opts.vm);
        if (seen >= lastSeq) break;
      }
      if (!got) throw new Error(`${source}: no message came after stream seq ${seen} in ${expires} ms (the last one is at stream seq ${lastSeq})`);
    }
  }
  return { source, empty: false, report: await verifyChain(items(), { key: opts.key }) };
}

/** A message as an item of the chain: its record, or why it is not a record as the shipper publishes one. */
function item(m: JsMsg, vm: string): ChainItem<string> {
  const at = `stream seq ${m.seq}`;
  const r = decodeAuditPayload(m.data);
  if (typeof r === 'string') return { at, reason: `the message is ${r}` };
  const id = m.headers?.get(MSG_ID_HEADER);
  const seqHeader = m.headers?.get(AUDIT_SEQ_HEADER);
  if (id !== auditMsgId(vm, r.hash)) return { at, seq: r.seq, reason: `its ${MSG_ID_HEADER} header (${id || 'none'}) is not ${vm}.<the record's hash> (${vm}.${r.hash.slice(0, 16)}…)` };
  if (seqHeader !== String(r.seq)) return { at, seq: r.seq, reason: `its ${AUDIT_SEQ_HEADER} header (${seqHeader || 'none'}) is not the record's seq` };
  return { at, record: r, stored: { format: 'json', bytes: Buffer.concat([m.data, NL]) } };
}

const NL = Buffer.from('\n');
