/**
 * `qmpmux audit verify --nats URL --vm VM` (the real CLI, a child process) on records a real hmp-audit
 * plugin wrote in front of a real QEMU and the shipper put in a real nats-server: passes on an intact
 * stream; names by seq a record deleted from the stream, and one altered (content, bytes only, headers)
 * in a copy of the stream; keyed chains; exit 0 / 1 / 2 as the file verify.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { headers } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { QmpClient } from '@qmpmux/client';
import { runQmpmux, startNats, startProxy, useQemu, useTempDir, type TestNats } from '@qmpmux/e2e';
import { startAuditShipper } from '../src/audit-shipper.ts';
import { auditPlugin, hmp, localRecords, streamMessages, type StreamedRecord } from './audit-helpers.ts';
import { captureLog, natsClient, until } from './helpers.ts';

const tmp = useTempDir('qmpmux-nats-audit-');
const KEY = Buffer.from('a key of more than sixteen bytes for the chain');
const qemu = useQemu();
let nats: TestNats;
let nc: NatsConnection;

const qmpmux = (...args: string[]) => runQmpmux(args);

/** Run qmpmux with hmp-audit on `path`, ship its log as `vm`, send HMP commands; returns the log's records. */
async function auditedVm(vm: string, path: string, options: Record<string, unknown> = {}): Promise<void> {
  const mux = await startProxy(qemu.address, { plugins: [auditPlugin(path, options)] });
  const shipper = startAuditShipper({ nc, vm, subjectPrefix: 'qmpmux', stream: 'QMPMUX_AUDIT', logPath: path, host: 'host-v', log: captureLog().log });
  try {
    const c = await QmpClient.connect(mux.unix);
    for (const line of ['info status', 'p 1', 'info version', 'p 2', 'foo']) await hmp(c, line);
    c.close();
  } finally {
    await mux.stop();
  }
  const last = localRecords(path).at(-1)!.seq;
  await until(() => shipper.lastShippedSeq === last, 'all shipped');
  await shipper.stop();
}

/** Copy a VM's messages into a fresh stream `stream` (subject prefix `prefix`), changing what `edit` changes. */
async function copyStream(msgs: StreamedRecord[], stream: string, prefix: string, vm: string, edit: (m: StreamedRecord) => { payload?: string; id?: string } | undefined): Promise<void> {
  await (await jetstreamManager(nc)).streams.add({ name: stream, subjects: [`${prefix}.*.audit`] });
  const js = jetstream(nc);
  for (const m of msgs) {
    const e = edit(m) ?? {};
    const h = headers();
    h.set('Qmpmux-Audit-Seq', m.headers.seq!);
    h.set('Qmpmux-Host', m.headers.host!);
    await js.publish(`${prefix}.${vm}.audit`, e.payload ?? m.payload, { msgID: e.id ?? m.headers.id!, headers: h });
  }
}

before(async () => {
  nats = await startNats();
  nc = await natsClient(nats.url);
  await auditedVm('vm1', join(tmp, 'vm1', 'audit.log'));
});
after(async () => {
  await nc?.close();
  await nats?.stop();
});

describe('qmpmux audit verify --nats', () => {
  it('passes on an intact stream and prints the head hash, as the file verify does', async () => {
    const recs = localRecords(join(tmp, 'vm1', 'audit.log'));
    const r = await qmpmux('audit', 'verify', '--nats', nats.url, '--vm', 'vm1');
    assert.equal(r.code, 0, r.out + r.err);
    assert.equal(r.out, `ok: ${recs.length} record(s), seq 1..${recs.length} in stream QMPMUX_AUDIT (qmpmux.vm1.audit), chain sha256, head ${recs.at(-1)!.hash}\n`);
    const file = await qmpmux('audit', 'verify', join(tmp, 'vm1', 'audit.log'));
    assert.match(file.out, new RegExp(`head ${recs.at(-1)!.hash}$`, 'm'), 'the same head as the local log');
  });

  it('names a record altered in the stream by its seq (content; bytes only; its Nats-Msg-Id)', async () => {
    const msgs = await streamMessages(nc, 'QMPMUX_AUDIT', 'qmpmux.vm1.audit');
    const cmd = msgs.find((m) => m.record.type === 'command')!;
    const seq = cmd.record.seq;
    await copyStream(msgs, 'ALTERED', 'altered', 'vm1', (m) => (m === cmd ? { payload: m.payload.replace('"info status"', '"info block"') } : undefined));
    const content = await qmpmux('audit', 'verify', '--nats', nats.url, '--vm', 'vm1', '--subject-prefix', 'altered', '--stream', 'ALTERED');
    assert.equal(content.code, 1);
    assert.match(content.out, new RegExp(`^BROKEN: stream ALTERED \\(altered\\.vm1\\.audit\\): record seq ${seq} at stream seq ${seq}: hash mismatch: the record says [0-9a-f]{16}…, its content hashes to [0-9a-f]{16}…\\n${seq - 1} record\\(s\\) before it verified \\(seq 1\\.\\.${seq - 1}\\)\\n$`));

    await copyStream(msgs, 'RECODED', 'recoded', 'vm1', (m) => (m === cmd ? { payload: m.payload.replace('"info status"', '"info \\u0073tatus"') } : undefined));
    const bytes = await qmpmux('audit', 'verify', '--nats', nats.url, '--vm', 'vm1', '--subject-prefix', 'recoded', '--stream', 'RECODED');
    assert.equal(bytes.code, 1);
    assert.match(bytes.out, new RegExp(`^BROKEN: stream RECODED \\(recoded\\.vm1\\.audit\\): record seq ${seq} at stream seq ${seq}: the bytes are not as the writer encodes this record`));

    await copyStream(msgs, 'RELABELED', 'relabeled', 'vm1', (m) => (m === cmd ? { id: 'f'.repeat(64) } : undefined));
    const id = await qmpmux('audit', 'verify', '--nats', nats.url, '--vm', 'vm1', '--subject-prefix', 'relabeled', '--stream', 'RELABELED');
    assert.equal(id.code, 1);
    assert.match(id.out, new RegExp(`^BROKEN: stream RELABELED \\(relabeled\\.vm1\\.audit\\): record seq ${seq} at stream seq ${seq}: its Nats-Msg-Id header \\(f{64}\\) is not vm1\\.<the record's hash>`));
  });

  it('verifies a keyed chain with --key-file, and refuses it without the key', async () => {
    const keyFile = join(tmp, 'key');
    writeFileSync(keyFile, KEY);
    await auditedVm('vmk', join(tmp, 'vmk', 'audit.log'), { hmacKeyFile: keyFile });
    const ok = await qmpmux('audit', 'verify', '--nats', nats.url, '--vm', 'vmk', '--key-file', keyFile);
    assert.equal(ok.code, 0, ok.out + ok.err);
    assert.match(ok.out, /^ok: \d+ record\(s\), seq 1\.\.\d+ in stream QMPMUX_AUDIT \(qmpmux\.vmk\.audit\), chain hmac-sha256, head [0-9a-f]{64}\n$/);
    const without = await qmpmux('audit', 'verify', '--nats', nats.url, '--vm', 'vmk');
    assert.equal(without.code, 1);
    assert.match(without.out, /^BROKEN: .*record seq 1 at stream seq \d+: this chain is keyed \(HMAC-SHA256\): give its key/);
  });

  it('names a record deleted from the stream by its seq', async () => {
    const msgs = await streamMessages(nc, 'QMPMUX_AUDIT', 'qmpmux.vm1.audit');
    const victim = msgs[4]!;
    assert.equal(await (await jetstreamManager(nc)).streams.deleteMessage('QMPMUX_AUDIT', victim.streamSeq), true);
    const r = await qmpmux('audit', 'verify', '--nats', nats.url, '--vm', 'vm1');
    assert.equal(r.code, 1);
    const seq = victim.record.seq;
    assert.equal(r.out, `BROKEN: stream QMPMUX_AUDIT (qmpmux.vm1.audit): record seq ${seq} missing: the next record there is seq ${seq + 1}, at stream seq ${msgs[5]!.streamSeq}\n${seq - 1} record(s) before it verified (seq 1..${seq - 1})\n`);
  });

  it('says so when the stream holds no record of the VM, or there is no such stream; usage errors exit 2', async () => {
    const none = await qmpmux('audit', 'verify', '--nats', nats.url, '--vm', 'nosuchvm');
    assert.deepEqual([none.code, none.out], [1, 'no audit record of nosuchvm in stream QMPMUX_AUDIT (qmpmux.nosuchvm.audit)\n']);
    const nostream = await qmpmux('audit', 'verify', '--nats', nats.url, '--vm', 'vm1', '--stream', 'NOPE');
    assert.equal(nostream.code, 1);
    assert.match(nostream.err, /there is no JetStream stream NOPE/);
    const novm = await qmpmux('audit', 'verify', '--nats', nats.url);
    assert.equal(novm.code, 2);
    assert.match(novm.err, /--nats needs --vm VM/);
    const both = await qmpmux('audit', 'verify', '--nats', nats.url, '--vm', 'vm1', 'audit.log');
    assert.equal(both.code, 2);
    const vmAlone = await qmpmux('audit', 'verify', '--vm', 'vm1', 'audit.log');
    assert.match(vmAlone.err, /--vm goes with --nats/);
  });
});
