/**
 * Direct QEMU vs through qmpmux, same QEMU (one QMP monitor for direct clients, others owned by
 * `qmpmux serve` child processes), printed as figures and ratios in one run. Not a test: run it with
 * `npm run bench`. Direct and qmpmux commands run in alternating blocks of BENCH_BLOCK (line-client.ts,
 * `paired`), so the machine's noise at any moment hits both sides alike.
 *   (a) p50/p99 of N sequential query-status: cold (a freshly spawned `qmpmux serve`, measured from
 *       the moment it logs that it listens, no client-side warm-up; BENCH_COLD_RUNS processes) and
 *       warm (after BENCH_WARMUP commands), side by side; a bare byte relay for reference, cold (a
 *       fresh relay process per cold run, measured the same way) and warm: what any proxy process pays
 *   (a') the same while /metrics is scraped 10×/s, against rounds without scraping
 *   (b) aggregate commands/s: 16 clients through qmpmux vs one direct client pipelining
 *   (c) time for STOP to reach the last of BENCH_CLIENTS clients through qmpmux (vs one direct client)
 *   (d) query-qmp-schema latency: direct vs the query cache
 *   (e) BENCH_CLIENTS clients each polling query-status every 10 ms: client vs upstream commands/s
 *       (single-flight; upstream counted by qmpmux's own /metrics)
 * Environment: BENCH_N (5000), BENCH_WARMUP (5000), BENCH_COLD_RUNS (3), BENCH_BLOCK (100),
 * BENCH_CLIENTS (200), BENCH_POLL_SECONDS (3), BENCH_NODE_FLAGS (for the qmpmux processes),
 * BENCH_PIN=1 (QEMU on CPU 0).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { env } from './env.ts';
import { BLOCK, median, paired, range, sequential, type Percentiles } from './line-client.ts';
import { fanout, pollers, throughput } from './load.ts';
import { freePort } from '@qmpmux/e2e';
import { serve, startQemu, startRelay } from './processes.ts';
import { get, scrapeSteadily, sumSeries } from './scrape.ts';

const N = env('BENCH_N', 5000);
const WARMUP = env('BENCH_WARMUP', 5000);
const COLD_RUNS = env('BENCH_COLD_RUNS', 3);
const FANOUT = env('BENCH_CLIENTS', 200);
const POLL_SECONDS = env('BENCH_POLL_SECONDS', 3);
const SCHEMA_N = 30;

const f = (x: number) => x.toFixed(1);
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
const pair = (d: Percentiles, m: Percentiles) => `direct p50 ${f(d.p50)} p99 ${f(d.p99)} | qmpmux p50 ${f(m.p50)} p99 ${f(m.p99)} | ratio p50 ${ratio(m.p50, d.p50)} p99 ${ratio(m.p99, d.p99)}`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'qmpmux-bench-'));
  const direct = join(dir, 'direct.qmp');
  const owned = join(dir, 'owned.qmp');
  const coldQmp = join(dir, 'cold.qmp');
  const relayQmp = join(dir, 'relay.qmp');
  const qemu = await startQemu([direct, owned, coldQmp, relayQmp]);
  const stops: (() => Promise<void>)[] = [];
  try {
    console.log(`qmpmux benchmark — QEMU ${qemu.pid}, N=${N}, warm-up ${WARMUP}, ${COLD_RUNS} cold starts${process.env.BENCH_NODE_FLAGS ? `, node ${process.env.BENCH_NODE_FLAGS}` : ''}`);
    // The bench's own client code is compiled by this first run, before anything is compared.
    await sequential(direct, N, 0);

    // (a) Direct and qmpmux commands alternate (line-client.ts, paired): the same moment's noise hits both.
    console.log('(a) sequential query-status latency, µs, direct and qmpmux alternating (targets: p50 ≤1.10x, p99 ≤1.25x direct)');
    const cold: { d: Percentiles; m: Percentiles }[] = [];
    const coldRelay: { d: Percentiles; m: Percentiles }[] = [];
    for (let i = 0; i < COLD_RUNS; i++) {
      const sock = join(dir, `cold${i}.sock`);
      const s = await serve({ upstream: coldQmp, listen: sock });
      const [d, m] = await paired(direct, sock, N, 0); // the moment it listens, no warm-up
      await s.stop();
      cold.push({ d, m });
      console.log(`    cold ${i + 1}: ${pair(d, m)}   (listening ${s.startMs.toFixed(0)} ms after spawn; ${s.warmUp ?? 'no warm-up'})`);
      // What any freshly started proxy process pays: a bare byte relay, measured the same way.
      const relaySock = join(dir, `cold-relay${i}.sock`);
      const relay = await startRelay(relaySock, relayQmp);
      const [rd, r] = await paired(direct, relaySock, N, 0);
      relay.kill();
      await sleep(100); // QEMU's monitor takes its next client once it has seen this one leave
      coldRelay.push({ d: rd, m: r });
      console.log(`    cold relay ${i + 1}: ${pair(rd, r).replace('qmpmux', 'relay')}`);
    }

    const port = await freePort();
    const muxSock = join(dir, 'mux.sock');
    const mux = await serve({ upstream: owned, listen: muxSock, http: `127.0.0.1:${port}` });
    stops.push(() => mux.stop());
    const metricsUrl = `http://127.0.0.1:${port}/metrics`;
    const [wd, wm] = await paired(direct, muxSock, N, WARMUP);
    console.log(`    warm:   ${pair(wd, wm)}   (after ${WARMUP} commands each)`);
    // The same, each side in one sequential run of N (no switching between processes every block:
    // a process idle for a block pays a wake-up on its next command, as a client that pauses would).
    const [sd, sm] = await paired(direct, muxSock, N, 0, N);
    console.log(`    warm, one run of ${N} each: ${pair(sd, sm)}`);
    const relaySock = join(dir, 'relay.sock');
    const relay = await startRelay(relaySock, relayQmp);
    const [rd, r] = await paired(direct, relaySock, N, WARMUP);
    relay.kill();
    console.log(`    a bare byte relay (no parsing), for reference: ${pair(rd, r).replace('qmpmux', 'relay')}`);
    const cr = (k: 'p50' | 'p99', runs = cold) => runs.map((c) => c.m[k] / c.d[k]);
    console.log('    side by side          direct p50/p99 µs   proxy p50/p99 µs    ratio p50     ratio p99');
    const row = (name: string, d: Percentiles[], m: Percentiles[], r50: number[], r99: number[]) =>
      console.log(`    ${name.padEnd(22)}${`${range(d.map((x) => x.p50), 0)} / ${range(d.map((x) => x.p99), 0)}`.padEnd(20)}${`${range(m.map((x) => x.p50), 0)} / ${range(m.map((x) => x.p99), 0)}`.padEnd(20)}${`${range(r50, 2)}x`.padEnd(14)}${range(r99, 2)}x`);
    row(`cold (${cold.length} starts)`, cold.map((c) => c.d), cold.map((c) => c.m), cr('p50'), cr('p99'));
    row(`warm (blocks of ${BLOCK})`, [wd], [wm], [wm.p50 / wd.p50], [wm.p99 / wd.p99]);
    row(`warm (one run of ${N})`, [sd], [sm], [sm.p50 / sd.p50], [sm.p99 / sd.p99]);
    row(`relay, cold (${coldRelay.length} starts)`, coldRelay.map((c) => c.d), coldRelay.map((c) => c.m), cr('p50', coldRelay), cr('p99', coldRelay));
    row(`relay, warm (blocks)`, [rd], [r], [r.p50 / rd.p50], [r.p99 / rd.p99]);

    // /metrics scraped 10×/s while measuring: alternate rounds with and without, so drift hits both;
    // each round's qmpmux figure is taken relative to direct QEMU measured alongside it.
    const plain: number[] = [];
    const scraped: number[] = [];
    let scrapes = 0;
    let bytes = 0;
    for (let round = 0; round < 3; round++) {
      const [pd, pm] = await paired(direct, muxSock, N, 0);
      plain.push(pm.p50 / pd.p50);
      const s = scrapeSteadily(metricsUrl, 10);
      const [sd, sm] = await paired(direct, muxSock, N, 0);
      scrapes += await s.stop();
      bytes = s.bytes();
      scraped.push(sm.p50 / sd.p50);
    }
    console.log(`(a') /metrics scraped 10x/s (${scrapes} scrapes of ${(bytes / 1024).toFixed(0)} KiB): qmpmux p50 / direct p50 ${range(scraped, 2)} scraped vs ${range(plain, 2)} not | medians' ratio ${(median(scraped) / median(plain)).toFixed(3)}x (target ≤1.03x)`);

    const dt = await throughput(direct, 1, 16, N * 4);
    const mt = await throughput(muxSock, 16, 1, N * 4);
    console.log(`(b) commands/s                direct 1 client pipelining ${dt.toFixed(0)} | qmpmux 16 clients ${mt.toFixed(0)} | ratio ${(mt / dt).toFixed(2)}x (target ≥1.0x)`);
    const df = await fanout(direct, 1, muxSock);
    const mf = await fanout(muxSock, FANOUT, direct);
    console.log(`(c) STOP reaches last client  direct 1 client ${df.toFixed(0)} µs | qmpmux ${FANOUT} clients ${mf.toFixed(0)} µs | ratio ${(mf / df).toFixed(2)}x`);

    // (d) The first query-qmp-schema through qmpmux goes to QEMU; the rest come from the cache.
    const ds = await sequential(direct, SCHEMA_N, 1, 'query-qmp-schema');
    const ms = await sequential(muxSock, SCHEMA_N, 1, 'query-qmp-schema');
    console.log(`(d) query-qmp-schema µs       direct p50 ${f(ds.p50)} | qmpmux (cached) p50 ${f(ms.p50)} p99 ${f(ms.p99)} | ${(ds.p50 / ms.p50).toFixed(1)}x faster (target ≥20x)`);

    // (e) Single-flight: upstream commands counted by qmpmux itself (its upstream latency histogram).
    const upstream = async () => sumSeries(await get(metricsUrl), 'qmpmux_upstream_duration_seconds_count', { command: 'query-status' });
    const joined = async () => sumSeries(await get(metricsUrl), 'qmpmux_single_flight_joined_total', { command: 'query-status' });
    const [u0, j0] = [await upstream(), await joined()];
    const t0 = process.hrtime.bigint();
    const p = await pollers(muxSock, FANOUT, 10, POLL_SECONDS);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const [u1, j1] = [await upstream(), await joined()];
    const up = (u1 - u0) / secs;
    console.log(`(e) ${FANOUT} clients polling query-status every 10 ms for ${POLL_SECONDS} s: clients ${p.perSecond.toFixed(0)} commands/s (of ${((FANOUT * 1000) / 10).toFixed(0)} asked) | QEMU ${up.toFixed(0)} commands/s | ${(p.perSecond / up).toFixed(1)}x fewer upstream; joined ${((j1 - j0) / secs).toFixed(0)}/s; client latency p50 ${f(p.latency.p50)} p99 ${f(p.latency.p99)} µs`);
  } finally {
    for (const s of stops) await s();
    qemu.kill('SIGKILL');
    await sleep(200);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
