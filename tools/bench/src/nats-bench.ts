/**
 * qmpmux on NATS JetStream (issue 13), one run, absolutes and ratios:
 *   (1) QMP p50/p99 of sequential `query-status` through `qmpmux serve` with the nats plugin on vs off
 *       (target p50 ≤ 1.05×); and HMP `info status` with hmp-audit, with vs without audit shipping.
 *   (2) an event reaching a JetStream consumer on this host: QEMU's event timestamp → the consumer's
 *       receive time, stop/cont round trips (target p50 and p99 ≤ 5 ms); for reference the same for a
 *       unix client through qmpmux and for a direct QMP client.
 *   (3) 10,000 events/s sustained from a scripted QMP server (QEMU cannot emit that many): how many
 *       reach the stream, gap messages, the rate the consumer saw.
 *   (4) gateway `query-status` round trip (NATS request/reply) p50/p99 vs a unix client through qmpmux.
 *   (5) audit shipping: records/s from a log written beforehand (one record in flight).
 *   (6) QMP latency while the nats plugin's shipping thread catches up with such a backlog, vs after.
 * Real QEMU (-M none), real nats-server (e2e startNats), qmpmux as a child process. Configurations
 * alternate per round; medians of the rounds are printed. Environment (a smoke run takes < 1 min with
 * BENCH_N=300 BENCH_WARMUP=300 BENCH_ROUNDS=1 BENCH_EVENTS=50 BENCH_FLOOD_S=2 BENCH_AUDIT_RECORDS=2000):
 *   BENCH_N (3000) commands per latency figure, BENCH_WARMUP (3000) before each, BENCH_ROUNDS (3),
 *   BENCH_EVENTS (500) stop/cont pairs, BENCH_RATE (10000) events/s for BENCH_FLOOD_S (10) s,
 *   BENCH_AUDIT_RECORDS (20000), BENCH_PARTS (1,2,3,4,5,6: which parts to run).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { AuditWriter, recordValue } from '@qmpmux/audit-log';
import { createLogger } from '@qmpmux/core';
import { startNats, startQemu, NATS_SERVER_BINARY } from '@qmpmux/e2e';
import { startAuditShipper } from '@qmpmux/plugin-nats';
import { FakeQemu } from '@qmpmux/fake-qemu';
import { env } from './env.ts';
import { LineClient, median, percentiles } from './line-client.ts';
import { cpuMs } from './proc.ts';
import { serveChild } from './processes.ts';

const N = env('BENCH_N', 3000);
const WARMUP = env('BENCH_WARMUP', 3000);
const ROUNDS = env('BENCH_ROUNDS', 3);
const EVENTS = env('BENCH_EVENTS', 500);
const RATE = env('BENCH_RATE', 10_000);
const FLOOD_S = env('BENCH_FLOOD_S', 10);
const AUDIT_RECORDS = env('BENCH_AUDIT_RECORDS', 20_000);
/** Which parts to run (default all): e.g. BENCH_PARTS=1,5. */
const PARTS = (process.env.BENCH_PARTS ?? '1,2,3,4,5,6').split(',').map(Number);

/** Wall-clock time in µs (QEMU stamps events with the wall clock). */
const wallUs = () => (performance.timeOrigin + performance.now()) * 1000;
const f = (x: number, d = 0) => x.toFixed(d);

/** p50/p99 (µs) of `send` → reply, one at a time, after a warm-up. */
async function latency(roundTrip: () => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < WARMUP; i++) await roundTrip();
  const t: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = process.hrtime.bigint();
    await roundTrip();
    t.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  const { p50, p99 } = percentiles(t);
  return { p50, p99 };
}

async function qmpLatency(socket: string, cmd: string, pid?: number): Promise<{ p50: number; p99: number; cpuUs: number }> {
  const c = await LineClient.open(socket);
  try {
    const cpu0 = pid ? cpuMs(pid) : 0;
    const r = await latency(async () => {
      c.send(cmd);
      await c.next();
    });
    return { ...r, cpuUs: pid ? ((cpuMs(pid) - cpu0) * 1000) / (N + WARMUP) : NaN };
  } finally {
    c.close();
  }
}

/** Microseconds from an event's QEMU timestamp to now. */
function eventAge(line: string, now: number): number | undefined {
  const m = /"timestamp": \{"seconds": (\d+), "microseconds": (\d+)\}/.exec(line);
  return m ? now - (Number(m[1]) * 1e6 + Number(m[2])) : undefined;
}

const dir = mkdtempSync(join(tmpdir(), 'qmpmux-nats-bench-'));
const directSock = join(dir, 'direct.qmp');
const qemu = await startQemu({ args: ['-qmp', `unix:${directSock},server=on,wait=off`] });
const nats = await startNats();
const nc: NatsConnection = await connect({ servers: nats.url });
const natsPlugin = (extra: Record<string, unknown> = {}) => ({ name: 'nats', options: { servers: [nats.url], gatewayPrincipal: 'bench', ...extra } });
const hmpAudit = (path: string) => ({ name: 'hmp-audit', options: { path, fsync: 'batch' } });

const version = (bin: string, arg: string) => {
  try {
    return execFileSync(bin, [arg], { encoding: 'utf8' }).trim().split('\n')[0];
  } catch {
    return '?';
  }
};
console.log(`qmpmux on NATS JetStream — node ${process.version}, ${version(NATS_SERVER_BINARY, '--version')}, ${version('qemu-system-x86_64', '--version')}`);
console.log(`N=${N} after a warm-up of ${WARMUP}, ${ROUNDS} round(s) (median), load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} (2 shared cores: noisy)`);

/** What a part started, stopped when it ends (LIFO), whether it measured or failed. */
const cleanup: (() => Promise<unknown>)[] = [];

async function part(name: string, run: () => Promise<void>): Promise<void> {
  if (!PARTS.includes(Number(name.slice(1, -1)))) return;
  try {
    await run();
  } catch (e) {
    console.log(`${name} not measured: ${(e as Error).message}`);
  } finally {
    for (let c = cleanup.pop(); c; c = cleanup.pop()) await c().catch(() => undefined);
  }
}

try {
  // (1) QMP latency with the plugin on and off; HMP with audit shipping on and off.
  await part('(1)', async () => {
    const r: Record<string, { p50: number; p99: number; cpuUs: number }[]> = { off: [], nats: [], audit: [], ship: [] };
    const configs = [
      { key: 'off', plugins: [], cmd: '{"execute":"query-status"}' },
      { key: 'nats', plugins: [natsPlugin()], cmd: '{"execute":"query-status"}' },
      { key: 'audit', plugins: (p: string) => [hmpAudit(p)], cmd: '{"execute":"human-monitor-command","arguments":{"command-line":"info status"}}' },
      { key: 'ship', plugins: (p: string) => [hmpAudit(p), natsPlugin({ audit: { path: p } })], cmd: '{"execute":"human-monitor-command","arguments":{"command-line":"info status"}}' },
    ];
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of round % 2 ? [...configs].reverse() : configs) {
        // One log per configuration across rounds: each round is a restart of qmpmux on it (the chain,
        // and the stream's copy of it, go on).
        const log = join(dir, c.key, 'audit.log');
        const s = await serveChild(dir, `${c.key}-${round}`, qemu.address, { name: 'vm1', plugins: typeof c.plugins === 'function' ? c.plugins(log) : c.plugins });
        try {
          r[c.key]!.push(await qmpLatency(s.socket, c.cmd, s.pid));
        } finally {
          await s.stop();
        }
      }
    }
    const m = (k: string) => ({ p50: median(r[k]!.map((x) => x.p50)), p99: median(r[k]!.map((x) => x.p99)), cpu: median(r[k]!.map((x) => x.cpuUs)) });
    const [off, on, audit, ship] = [m('off'), m('nats'), m('audit'), m('ship')];
    console.log(`(1) query-status µs p50/p99     plugin off ${f(off.p50)}/${f(off.p99)} | nats plugin on ${f(on.p50)}/${f(on.p99)} | ratio p50 ${f(on.p50 / off.p50, 2)}x p99 ${f(on.p99 / off.p99, 2)}x (target p50 ≤ 1.05x); qmpmux CPU µs/command ${f(off.cpu)} | ${f(on.cpu)}`);
    console.log(`    HMP 'info status' µs p50/p99 hmp-audit ${f(audit.p50)}/${f(audit.p99)} | + audit shipping ${f(ship.p50)}/${f(ship.p99)} | ratio p50 ${f(ship.p50 / audit.p50, 2)}x p99 ${f(ship.p99 / audit.p99, 2)}x; qmpmux CPU µs/command ${f(audit.cpu)} | ${f(ship.cpu)}`);
  });

  // (2) QEMU → JetStream consumer, with a unix client through qmpmux and a direct client for reference.
  await part('(2)', async () => {
    const s = await serveChild(dir, 'events', qemu.address, { name: 'vm1', plugins: [natsPlugin()] });
    cleanup.push(() => s.stop());
    const direct = await LineClient.open(directSock);
    const viaMux = await LineClient.open(s.socket);
    const ages = { nats: [] as number[], mux: [] as number[], direct: [] as number[] };
    let natsSeen = 0;
    const consumer = await jetstream(nc).consumers.get('QMPMUX_EVENTS', { filter_subjects: 'qmpmux.vm1.event.>', deliver_policy: DeliverPolicy.New });
    const msgs = await consumer.consume();
    const reading = (async () => {
      for await (const m of msgs) {
        const age = eventAge(Buffer.from(m.data).toString('utf8'), wallUs());
        if (age !== undefined) ages.nats.push(age / 1000);
        natsSeen++;
      }
    })();
    const watch = (c: LineClient, into: number[]) => {
      c.onLine = (l) => {
        if (!l.includes('"event"')) return;
        const age = eventAge(l, wallUs());
        if (age !== undefined) into.push(age / 1000);
      };
    };
    watch(viaMux, ages.mux);
    watch(direct, ages.direct);
    await sleep(500); // the consumer's first pull is in place
    for (let i = 0; i < EVENTS; i++) {
      for (const cmd of ['stop', 'cont']) {
        const want = natsSeen + 1;
        direct.send(`{"execute":"${cmd}"}`);
        const deadline = Date.now() + 5000;
        while (natsSeen < want && Date.now() < deadline) await sleep(1);
      }
    }
    await sleep(200);
    msgs.stop();
    await reading;
    direct.close();
    viaMux.close();
    const n = percentiles(ages.nats);
    const mux = percentiles(ages.mux);
    const d = percentiles(ages.direct);
    console.log(`(2) event age at receipt ms      JetStream consumer p50 ${f(n.p50, 2)} p99 ${f(n.p99, 2)} (${ages.nats.length} of ${2 * EVENTS} events; target ≤ 5 ms) | unix client via qmpmux p50 ${f(mux.p50, 2)} p99 ${f(mux.p99, 2)} | direct QMP client p50 ${f(d.p50, 2)} p99 ${f(d.p99, 2)}`);
  });

  // (3) A flood from a scripted QMP server: what reaches the stream.
  await part('(3)', async () => {
    const fake = new FakeQemu();
    await fake.start();
    cleanup.push(() => fake.stop());
    const s = await serveChild(dir, 'flood', fake.address, { name: 'flood', plugins: [natsPlugin()] });
    cleanup.push(() => s.stop());
    const link = fake.conns.at(-1)!;
    const seen = new Set<string>();
    let first = 0;
    let last = 0;
    const consumer = await jetstream(nc).consumers.get('QMPMUX_EVENTS', { filter_subjects: 'qmpmux.flood.event.>', deliver_policy: DeliverPolicy.New });
    const msgs = await consumer.consume({ max_messages: 1000 });
    const reading = (async () => {
      for await (const m of msgs) {
        seen.add(m.headers?.get('Qmpmux-Seq') ?? `stream-${m.seq}`);
        last = performance.now();
        if (!first) first = last;
      }
    })();
    await sleep(500);
    const total = RATE * FLOOD_S;
    let sent = 0;
    const t0 = performance.now();
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * RATE));
      const batch: string[] = [];
      for (; sent < due; sent++) {
        const us = Math.round(wallUs());
        batch.push(`{"timestamp": {"seconds": ${Math.floor(us / 1e6)}, "microseconds": ${us % 1e6}}, "event": "RTC_CHANGE", "data": {"offset": ${sent}, "qom-path": "/machine/unattached/device[3]"}}`);
      }
      if (batch.length) link.send(batch.join('\r\n'));
      await sleep(5);
    }
    const emitSecs = (performance.now() - t0) / 1000;
    // Wait until the stream has everything, or nothing more arrives for 5 s.
    for (let before = -1; seen.size < total && seen.size !== before; ) {
      before = seen.size;
      await sleep(5000);
    }
    msgs.stop();
    await reading;
    const info = await (await jetstreamManager(nc)).streams.info('QMPMUX_EVENTS', { subjects_filter: 'qmpmux.flood.>' });
    const subjects = (info.state.subjects ?? {}) as Record<string, number>;
    const inStream = Object.entries(subjects).filter(([k]) => k.includes('.event.')).reduce((a, [, v]) => a + v, 0);
    const gaps = subjects['qmpmux.flood.gap'] ?? 0;
    console.log(`(3) flood ${RATE} events/s × ${FLOOD_S} s  emitted ${total} at ${f(total / emitSecs)}/s | in the stream ${inStream} (${total - inStream} missing), gap messages ${gaps} | the consumer got ${seen.size} distinct at ${f(seen.size / ((last - first) / 1000 || 1))}/s`);
  });

  // (4) The gateway against a unix client through the same qmpmux.
  await part('(4)', async () => {
    const s = await serveChild(dir, 'gateway', qemu.address, { name: 'vm1', plugins: [natsPlugin()] });
    try {
      const unix = await qmpLatency(s.socket, '{"execute":"query-status"}');
      const req = new TextEncoder().encode('{"execute":"query-status"}');
      const gw = await latency(async () => {
        const r = await nc.request('qmpmux.vm1.qmp', req, { timeout: 5000 });
        if (!Buffer.from(r.data).includes('"return"')) throw new Error(`gateway answered ${Buffer.from(r.data).toString()}`);
      });
      console.log(`(4) query-status round trip µs   NATS gateway p50 ${f(gw.p50)} p99 ${f(gw.p99)} | unix client via qmpmux p50 ${f(unix.p50)} p99 ${f(unix.p99)} | ratio p50 ${f(gw.p50 / unix.p50, 2)}x`);
    } finally {
      await s.stop();
    }
  });

  // (5) Audit shipping throughput from a log written beforehand.
  await part('(5)', async () => {
    const path = join(dir, 'rate', 'audit.log');
    const w = AuditWriter.open({ path, format: 'json', fsync: 'batch', batchMaxRecords: 256, batchMaxDelayMs: 100, rotateBytes: 64 * 1024 * 1024 });
    for (let i = 0; i < AUDIT_RECORDS; i++) {
      w.append('command', recordValue({ client: 1, principal: 'ops', conn: { transport: 'unix', address: '/run/qmpmux/vm1.sock', pid: 4242, uid: 0, gid: 0 }, qmp: 'human-monitor-command', hmp: { line: 'info status', name: 'info status' }, decision: { allowed: true, rule: 'default:allow' } }) as Record<string, unknown>);
    }
    await w.close();
    const t0 = performance.now();
    const shipper = startAuditShipper({ nc, vm: 'bench', subjectPrefix: 'qmpmux', stream: 'QMPMUX_AUDIT', logPath: path, host: 'bench', log: createLogger('bench', 'warn') });
    const deadline = Date.now() + 300_000;
    while (shipper.lastShippedSeq !== AUDIT_RECORDS + 1) {
      if (Date.now() > deadline) throw new Error(`only ${shipper.shipped} records shipped in 300 s`);
      await sleep(5);
    }
    const secs = (performance.now() - t0) / 1000;
    await shipper.stop();
    console.log(`(5) audit shipping               ${AUDIT_RECORDS + 1} records in ${f(secs, 2)} s = ${f((AUDIT_RECORDS + 1) / secs)} records/s (one in flight, expected-last-subject-sequence)`);
  });

  // (6) QMP latency while the shipper (in its own thread) catches up with a backlog in the log.
  await part('(6)', async () => {
    const path = join(dir, 'backlog', 'audit.log');
    const w = AuditWriter.open({ path, format: 'json', fsync: 'batch', batchMaxRecords: 256, batchMaxDelayMs: 100, rotateBytes: 64 * 1024 * 1024 });
    for (let i = 0; i < AUDIT_RECORDS; i++) w.append('command', recordValue({ client: 1, qmp: 'human-monitor-command', hmp: { line: 'info status', name: 'info status' } }) as Record<string, unknown>);
    await w.close();
    const s = await serveChild(dir, 'backlog', qemu.address, { name: 'vmb', plugins: [hmpAudit(path), natsPlugin({ audit: { path } })] });
    cleanup.push(() => s.stop());
    const jsm = await jetstreamManager(nc);
    const shippedNow = async () => ((await jsm.streams.info('QMPMUX_AUDIT', { subjects_filter: 'qmpmux.vmb.audit' })).state.subjects as Record<string, number> | undefined)?.['qmpmux.vmb.audit'] ?? 0;
    const during = await qmpLatency(s.socket, '{"execute":"query-status"}', s.pid);
    const at = await shippedNow();
    while ((await shippedNow()) < AUDIT_RECORDS) await sleep(50);
    const idle = await qmpLatency(s.socket, '{"execute":"query-status"}', s.pid);
    console.log(`(6) query-status µs p50/p99 while ${AUDIT_RECORDS} records are shipped ${f(during.p50)}/${f(during.p99)} (${at} shipped when it ended) | after ${f(idle.p50)}/${f(idle.p99)} | ratio p50 ${f(during.p50 / idle.p50, 2)}x`);
  });
} finally {
  await nc.close();
  await nats.stop();
  await qemu.stop();
  rmSync(dir, { recursive: true, force: true });
}
