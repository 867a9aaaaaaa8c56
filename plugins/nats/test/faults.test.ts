/**
 * NATS faults: down at start, killed (-9) and restarted, stopped (SIGSTOP), a full buffer. Local clients
 * never notice; events produced meanwhile reach the stream after, once each. Real QEMU and nats-server.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from '@nats-io/transport-node';
import { QmpClient } from '@qmpmux/client';
import { startNats, type TestNats } from '@qmpmux/e2e';
import { natsClient, natsStats, readStream, startMux, streamCount, togglePairs, until, type Mux, type StoredMsg } from './helpers.ts';

/** The stream holds events 1..n of one epoch, once each, in some order (a retried publish may land after a later one). */
function assertExactlyOnce(msgs: StoredMsg[], n: number): void {
  const events = msgs.filter((x) => x.subject.includes('.event.'));
  const seqs = events.map((x) => Number(x.headers['Qmpmux-Seq'])).sort((a, b) => a - b);
  assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => i + 1), 'every event once');
  assert.equal(new Set(events.map((x) => x.headers['Nats-Msg-Id'])).size, events.length, 'no id twice');
  assert.equal(new Set(events.map((x) => x.headers['Qmpmux-Epoch'])).size, 1);
}

describe('NATS faults', () => {
  let nats: TestNats | undefined;
  let nc: NatsConnection | undefined;
  let m: Mux | undefined;
  afterEach(async () => {
    if (nats) process.kill(nats.pid, 'SIGCONT');
    await m?.stop();
    await nc?.close();
    await nats?.stop();
    m = nats = nc = undefined;
  });

  it('NATS down at start: local clients are served normally, the plugin retries, and the events of the meantime are published after', async () => {
    nats = await startNats();
    await nats.kill9();
    m = await startMux({ servers: [nats.url] });
    const c = await QmpClient.connect(m.mux.unix);
    assert.equal((await c.execute('query-status')).status, 'running');
    c.close();
    const seen = await togglePairs(m.mux.unix, 3);
    assert.equal(seen.length, 6, 'local clients got their events');
    assert.equal((await natsStats(m.mux.unix)).state, 'connecting');
    assert.equal((await natsStats(m.mux.unix)).pending, 6);
    assert.ok(m.lines.some((l) => l.level === 'warn' && /NATS unreachable: .*; retrying in the background/.test(l.msg)));
    await nats.restart();
    nc = await natsClient(nats.url);
    await until(async () => (await streamCount(nc!, 'QMPMUX_EVENTS')) === 6, 'the 6 events in the stream');
    const msgs = await readStream(nc, 'QMPMUX_EVENTS');
    assertExactlyOnce(msgs, 6);
    assert.deepEqual(
      msgs.sort((a, b) => Number(a.headers['Qmpmux-Seq']) - Number(b.headers['Qmpmux-Seq'])).map((x) => x.data.toString('latin1')),
      seen.map((r) => r + '\r\n'),
    );
    await until(async () => (await natsStats(m!.mux.unix)).pending === 0, 'nothing pending');
  });

  it('events during an outage (kill -9, then restart) are published after it', async () => {
    nats = await startNats();
    nc = await natsClient(nats.url);
    m = await startMux({ servers: [nats.url] });
    await togglePairs(m.mux.unix, 2);
    await until(async () => (await streamCount(nc!, 'QMPMUX_EVENTS')) === 4, '4 events before the outage');
    await nats.kill9();
    const during = await togglePairs(m.mux.unix, 5);
    assert.equal(during.length, 10, 'local clients got their events during the outage');
    await nats.restart();
    await until(async () => (await streamCount(nc!, 'QMPMUX_EVENTS')) === 14, 'all 14 events after the outage', 30_000);
    assertExactlyOnce(await readStream(nc, 'QMPMUX_EVENTS'), 14);
  });

  it('kill -9 of nats-server (file storage) while publishing, and restart: no acknowledged event lost, none twice', async () => {
    nats = await startNats();
    nc = await natsClient(nats.url);
    m = await startMux({ servers: [nats.url] });
    const client = await QmpClient.connect(m.mux.unix);
    // A burst of events; kill the server while they are being published.
    const burst = (async () => {
      for (let i = 0; i < 150; i++) {
        await client.execute('stop');
        await client.execute('cont');
      }
    })();
    await until(async () => Number((await natsStats(m!.mux.unix)).published) >= 20, 'some events acknowledged');
    await nats.kill9();
    const ackedBeforeKill = Number((await natsStats(m.mux.unix)).published);
    await burst;
    client.close();
    await nats.restart();
    await until(async () => (await natsStats(m!.mux.unix)).pending === 0, 'every event acknowledged after the restart', 60_000);
    const msgs = await readStream(nc, 'QMPMUX_EVENTS');
    assert.ok(msgs.length >= ackedBeforeKill);
    assertExactlyOnce(msgs, 300);
  });

  it('beyond maxPendingPublish events are dropped, counted, and reported by one gap message once NATS is back; memory stays bounded', async () => {
    nats = await startNats();
    await nats.kill9();
    m = await startMux({ servers: [nats.url], maxPendingPublish: 10 });
    const seen = await togglePairs(m.mux.unix, 15); // 30 events, 10 fit
    assert.equal(seen.length, 30, 'local clients got all of them');
    const stats = await natsStats(m.mux.unix);
    assert.equal(stats.pending, 10, 'the buffer holds no more than maxPendingPublish');
    assert.equal(stats.dropped, 20);
    await nats.restart();
    nc = await natsClient(nats.url);
    await until(async () => (await streamCount(nc!, 'QMPMUX_EVENTS')) === 11, '10 events and a gap message');
    const msgs = await readStream(nc, 'QMPMUX_EVENTS');
    assertExactlyOnce(msgs.slice(0, 10), 10);
    const gap = msgs[10]!;
    assert.equal(gap.subject, 'qmpmux.vm1.gap');
    const epoch = Number(msgs[0]!.headers['Qmpmux-Epoch']);
    assert.deepEqual(JSON.parse(gap.data.toString()), { vm: 'vm1', epoch, fromSeq: 11, toSeq: 30, dropped: 20, reason: 'maxPendingPublish' });
    assert.equal(gap.headers['Nats-Msg-Id'], `vm1.${epoch}.gap.11`);
    const after = await natsStats(m.mux.unix);
    assert.equal(after.gaps, 1);
    assert.equal(after.pending, 0);
    // Publishing goes on normally afterwards.
    await togglePairs(m.mux.unix, 1);
    await until(async () => (await streamCount(nc!, 'QMPMUX_EVENTS')) === 13, 'new events after the gap');
    assert.deepEqual((await readStream(nc, 'QMPMUX_EVENTS')).slice(11).map((x) => x.headers['Qmpmux-Seq']), ['31', '32']);
  });

  it('a stopped nats-server (SIGSTOP) never slows a local client: commands answer, events arrive; published once it runs again', async () => {
    nats = await startNats();
    nc = await natsClient(nats.url);
    m = await startMux({ servers: [nats.url], publishTimeoutMs: 500 });
    await togglePairs(m.mux.unix, 1);
    await until(async () => (await streamCount(nc!, 'QMPMUX_EVENTS')) === 2, 'first events');
    process.kill(nats.pid, 'SIGSTOP');
    const c = await QmpClient.connect(m.mux.unix);
    for (let i = 0; i < 20; i++) assert.equal((await c.execute('query-status')).status, 'running');
    c.close();
    assert.equal((await togglePairs(m.mux.unix, 5)).length, 10);
    assert.equal((await natsStats(m.mux.unix)).pending, 10, 'held while the server does not answer');
    process.kill(nats.pid, 'SIGCONT');
    await until(async () => (await streamCount(nc!, 'QMPMUX_EVENTS')) === 12, 'all 12 events once the server runs', 30_000);
    assertExactlyOnce(await readStream(nc, 'QMPMUX_EVENTS'), 12);
  });
});
