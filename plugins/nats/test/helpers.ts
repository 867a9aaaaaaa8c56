/** Test helpers: qmpmux with the nats plugin in front of a real QEMU, and a NATS client to look at what landed. */
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { QmpClient } from '@qmpmux/client';
import { createLogger, type Logger, type LogLevel, type PluginSpec } from '@qmpmux/core';
import { startNats, startProxy, startQemu, until, type StartNatsOptions, type TestNats, type TestProxy, type TestQemu } from '@qmpmux/e2e';

export { until };
import { natsPlugin } from '../src/index.ts';
import { localRecords } from './audit-helpers.ts';

export interface LogLine {
  level: LogLevel;
  msg: string;
}

/** A logger that keeps what it is told (and prints at QMPMUX_TEST_LOG's level). */
export function captureLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const print = process.env.QMPMUX_TEST_LOG;
  const log = createLogger('qmpmux', 'debug', (level, tag, msg, fields) => {
    lines.push({ level, msg });
    if (print === 'debug' || (print && level !== 'debug')) process.stderr.write(`${level} [${tag}] ${msg} ${fields ? JSON.stringify(fields) : ''}\n`);
  });
  return { log, lines };
}

export interface Mux {
  qemu: TestQemu;
  mux: TestProxy;
  lines: LogLine[];
  stop(): Promise<void>;
}

/** A QEMU and qmpmux (VM `vm`) with the nats plugin (and `before` plugins ahead of it). */
export async function startMux(natsOptions: Record<string, unknown>, opts: { vm?: string; before?: PluginSpec[]; qemu?: TestQemu } = {}): Promise<Mux> {
  const qemu = opts.qemu ?? (await startQemu());
  const { log, lines } = captureLog();
  let mux: TestProxy;
  try {
    mux = await startProxy(qemu.address, { name: opts.vm ?? 'vm1', log, plugins: [...(opts.before ?? []), { definition: natsPlugin, options: natsOptions }] });
  } catch (e) {
    if (!opts.qemu) await qemu.stop();
    throw e;
  }
  return {
    qemu,
    mux,
    lines,
    async stop() {
      await mux.stop();
      if (!opts.qemu) await qemu.stop();
    },
  };
}

/** A test's own NATS client (`extra`: credentials, TLS). */
export async function natsClient(url: string, extra: Partial<ConnectionOptions> = {}): Promise<NatsConnection> {
  return connect({ servers: [url], maxReconnectAttempts: -1, reconnectTimeWait: 100, ...extra });
}

/** A nats-server and a client connection to it for the enclosing suite (or file): started before it, stopped after. */
export function useNats(opts?: StartNatsOptions): { readonly nats: TestNats; readonly nc: NatsConnection } {
  const bus = {} as { nats: TestNats; nc: NatsConnection };
  before(async () => {
    bus.nats = await startNats(opts);
    bus.nc = await natsClient(bus.nats.url);
  });
  after(async () => {
    await bus.nc?.close();
    await bus.nats?.stop();
  });
  return bus;
}

/**
 * The plugin cannot connect, for the reason `why` matches in its warning: it keeps retrying, local
 * clients are served as usual, and their events are held for later.
 */
export async function refusedButServing(m: Mux, why: RegExp): Promise<void> {
  await until(() => m.lines.some((l) => l.level === 'warn' && /^NATS unreachable: .*; retrying in the background/.test(l.msg) && why.test(l.msg)), `a warning matching ${why}`);
  await until(() => m.lines.some((l) => l.msg === 'NATS still unreachable'), 'a retry');
  const c = await QmpClient.connect(m.mux.unix);
  assert.equal((await c.execute('query-status')).status, 'running');
  c.close();
  assert.equal((await togglePairs(m.mux.unix, 1)).length, 2);
  const s = await natsStats(m.mux.unix);
  assert.equal(s.state, 'connecting');
  assert.equal(s.pending, 2);
}

export interface StoredMsg {
  seq: number;
  subject: string;
  data: Buffer;
  headers: Record<string, string>;
}

/** Every message of a stream (optionally filtered), in stream order. */
export async function readStream(nc: NatsConnection, stream: string, filter?: string): Promise<StoredMsg[]> {
  const js = jetstream(nc);
  const c = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.All, ...(filter ? { filter_subjects: filter } : {}) });
  const info = await c.info(true);
  const out: StoredMsg[] = [];
  let left = info.num_pending;
  while (left > 0) {
    const m: JsMsg | null = await c.next({ expires: 2000 });
    if (!m) break;
    const headers: Record<string, string> = {};
    for (const k of m.headers?.keys() ?? []) headers[k] = m.headers!.get(k);
    out.push({ seq: m.seq, subject: m.subject, data: Buffer.from(m.data), headers });
    left = m.info.pending;
  }
  await c.delete().catch(() => {});
  return out;
}

/** How many messages a stream holds (0 when it does not exist yet). */
export async function streamCount(nc: NatsConnection, stream: string): Promise<number> {
  try {
    // A short timeout: a request made while this test client reconnects would otherwise wait 5 s.
    const jsm = await jetstreamManager(nc, { timeout: 500 });
    return (await jsm.streams.info(stream)).state.messages;
  } catch {
    return 0;
  }
}

/** The plugin's own figures (__org.qmpmux_query-nats). */
export async function natsStats(address: string): Promise<Record<string, number | string>> {
  const c = await QmpClient.connect(address);
  try {
    return (await c.execute('__org.qmpmux_query-nats' as never)) as unknown as Record<string, number | string>;
  } finally {
    c.close();
  }
}

/** Make `n` STOP/RESUME pairs through a client; returns the event lines the client received (no line end). */
export async function togglePairs(address: string, n: number): Promise<string[]> {
  const c = await QmpClient.connect(address);
  const raws: string[] = [];
  c.messages$.subscribe((m) => {
    if ('event' in (m.value as object)) raws.push(m.raw.toString('latin1'));
  });
  for (let i = 0; i < n; i++) {
    await c.execute('stop');
    await c.execute('cont');
  }
  await until(() => raws.length >= 2 * n, `${2 * n} events at the client`);
  c.close();
  return raws;
}

/**
 * Everything the plugin of `m` (VM vm1, with a gatewayPrincipal) puts on NATS gets there, as `nc`
 * sees it: events, the inventory entry, the gateway's replies, and — with `auditLog`, hmp-audit's
 * log it ships — every audit record.
 */
export async function allOnNats(m: Mux, nc: NatsConnection, auditLog?: string): Promise<void> {
  await togglePairs(m.mux.unix, 1);
  await until(async () => (await streamCount(nc, 'QMPMUX_EVENTS')) === 2, 'the events');
  const ask = () => nc.request('qmpmux.vm1.qmp', Buffer.from('{"execute":"query-status","id":1}'), { timeout: 2000 });
  await until(async () => ask().then(() => true, () => false), 'the gateway answers');
  assert.equal(Buffer.from((await ask()).data).toString(), '{"return": {"status": "running", "singlestep": false, "running": true}, "id": 1}\r\n');
  const kv = await new Kvm(nc).open('QMPMUX_VMS');
  await until(async () => (await kv.get('vm1'))?.json<{ upstream: { state: string } }>().upstream.state === 'ready', 'the inventory entry');
  if (auditLog) await until(async () => (await streamCount(nc, 'QMPMUX_AUDIT')) === localRecords(auditLog).length, 'the audit records');
}
