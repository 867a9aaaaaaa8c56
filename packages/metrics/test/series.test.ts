/**
 * Every series the metrics promise exists and moves with what happens, against a real QEMU (paused
 * with SIGSTOP where a queue must fill): clients by transport, commands and both latencies, events,
 * disconnects by every reason, fds held, queue depths, the cache and single-flight counters, plugin
 * counters, Node's process metrics; labels stay bounded.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClient } from '@qmpmux/client';
import { RawClient, startProxy, startQemu, type TestProxy, type TestQemu } from '@qmpmux/e2e';
import { type PluginCounter, type PluginDefinition } from '@qmpmux/core';
import { MetricsRegistry } from '../src/index.ts';

/** The value of one series in Prometheus text (undefined when absent). */
const value = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

/** A plugin that counts connections through PluginContext.metrics (and refuses one when told). */
let pluginCounter: PluginCounter | undefined;
let refuseNext = false;
const counting: PluginDefinition<object> = {
  name: 'counting',
  validate: () => ({}),
  create(_o, ctx) {
    pluginCounter = ctx.metrics.counter('qmpmux_test_connects_total', 'Connections the test plugin saw', ['transport']);
    return {
      name: 'counting',
      async onClientConnect(c) {
        pluginCounter!.inc({ transport: c.peer.transport });
        if (refuseNext) {
          refuseNext = false;
          return { action: 'refuse', reason: 'not now' };
        }
      },
    };
  },
};

describe('metrics series', () => {
  let qemu: TestQemu;
  let mux: TestProxy;
  const metrics = new MetricsRegistry(); // with Node's process metrics
  const text = () => metrics.text();

  before(async () => {
    qemu = await startQemu();
    mux = await startProxy(qemu.address, {
      observer: metrics.observer('vm1'),
      plugins: [{ definition: counting }],
      limits: { maxMessageBytes: 4096, maxClientOutputBytes: 65536 },
      name: 'vm1',
    });
    metrics.attach(mux.proxy);
    while (!(await text()).includes('qmpmux_upstream_state{vm="vm1",state="ready"} 1')) await sleep(10);
    await sleep(100); // the link's query-commands (the command labels) has been read
  });
  after(async () => {
    await mux?.stop();
    await qemu?.stop();
  });

  it("clients by transport, commands, both latencies, events; Node's process metrics", async () => {
    const u = await QmpClient.connect(mux.unix);
    const t = await QmpClient.connect(mux.tcp);
    let m = await text();
    assert.equal(value(m, 'qmpmux_clients{vm="vm1",transport="unix"}'), 1);
    assert.equal(value(m, 'qmpmux_clients{vm="vm1",transport="tcp"}'), 1);
    assert.equal(value(m, 'qmpmux_client_connections_total{vm="vm1",transport="tcp"}'), 1);
    assert.equal(value(m, 'qmpmux_test_connects_total{transport="unix",vm="vm1"}'), 1, 'a plugin counter, vm added');
    await u.execute('stop');
    await t.execute('cont');
    await t.execute('query-status');
    await sleep(50); // the events
    m = await text();
    assert.equal(value(m, 'qmpmux_commands_total{vm="vm1",command="stop",outcome="ok",source="qemu"}'), 1);
    assert.equal(value(m, 'qmpmux_command_duration_seconds_count{vm="vm1",command="query-status"}'), 1);
    assert.equal(value(m, 'qmpmux_upstream_duration_seconds_count{vm="vm1",command="query-status"}'), 1);
    assert.ok(value(m, 'qmpmux_command_duration_seconds_sum{vm="vm1",command="query-status"}')! > 0);
    assert.equal(value(m, 'qmpmux_events_total{vm="vm1",event="STOP"}'), 1);
    assert.equal(value(m, 'qmpmux_events_total{vm="vm1",event="RESUME"}'), 1);
    assert.ok(value(m, 'process_resident_memory_bytes')! > 0);
    assert.match(m, /^nodejs_eventloop_lag_seconds /m);
    u.close();
    t.close();
    while (mux.proxy.clients.size) await sleep(10);
  });

  it('disconnects by reason: closed, message_too_large, slow_consumer, kicked, refused', async () => {
    const reason = async (r: string, transport = 'unix') => value(await text(), `qmpmux_client_disconnects_total{vm="vm1",transport="${transport}",reason="${r}"}`) ?? 0;
    const before = { closed: await reason('closed'), large: await reason('message_too_large'), slow: await reason('slow_consumer'), kicked: await reason('kicked') };
    const closing = await QmpClient.connect(mux.unix);
    closing.close();
    const large = await RawClient.connect(mux.unix);
    await large.count(1);
    large.send(`{"execute":"qmp_capabilities","id":"${'x'.repeat(5000)}"}`);
    // Never reads: its replies (query-qmp-schema is about 200 KB) pile up past maxClientOutputBytes.
    const slow = await RawClient.connect(mux.unix);
    await slow.count(1);
    slow.send('{"execute":"qmp_capabilities"}');
    await slow.count(2);
    slow.conn.pause();
    slow.send('{"execute":"query-qmp-schema"}'.repeat(8));
    const kicked = await QmpClient.connect(mux.unix);
    await kicked.execute('query-status');
    const id = Math.max(...mux.proxy.clients.keys());
    mux.proxy.disconnect(id, 'an operator asked');
    await large.until(() => large.closed, 5000, 'the oversize client closed');
    const deadline = Date.now() + 5000;
    while ((await reason('slow_consumer')) === before.slow || (await reason('kicked')) === before.kicked) {
      assert.ok(Date.now() < deadline, 'slow consumer and kicked client disconnected');
      await sleep(20);
    }
    assert.equal(await reason('closed'), before.closed + 1);
    assert.equal(await reason('message_too_large'), before.large + 1);
    assert.equal(await reason('slow_consumer'), before.slow + 1);
    assert.equal(await reason('kicked'), before.kicked + 1);
    slow.conn.destroy();
    // Refused by a plugin before the greeting.
    const refusedBefore = await reason('refused', 'tcp');
    refuseNext = true;
    const r = await RawClient.connect(mux.tcp);
    await r.until(() => r.closed, 5000, 'refused');
    assert.equal(await reason('refused', 'tcp'), refusedBefore + 1);
  });

  it('fds held, queue depths, single-flight and cache counters move; QEMU paused to fill the queues', async () => {
    const fdClient = await RawClient.connect(mux.unix);
    await fdClient.count(1);
    fdClient.send('{"execute":"qmp_capabilities"}');
    await fdClient.count(2);
    const fd = openSync('/dev/null', 'r');
    fdClient.send('{"execute":"query-name","id":1}', [fd]); // held for a later getfd, as QEMU would (the transport closes our copy)
    await fdClient.reply('1');
    assert.equal(value(await text(), 'qmpmux_fds_held{vm="vm1"}'), 1);

    const clients = await Promise.all(Array.from({ length: 12 }, () => QmpClient.connect(mux.unix)));
    process.kill(qemu.pid, 'SIGSTOP');
    try {
      // 10 distinct commands fill the upstream window (8) and queue; two identical pure queries share one.
      const pending = clients.slice(0, 10).map((c, i) => c.execute('human-monitor-command', { 'command-line': `info version ${i}` }).catch(() => undefined));
      await sleep(50);
      const shared = [clients[10]!.execute('query-status'), clients[11]!.execute('query-status')];
      await sleep(50);
      const m = await text();
      assert.equal(value(m, 'qmpmux_queue_depth{vm="vm1",queue="upstream_inflight"}'), 8);
      assert.equal(value(m, 'qmpmux_queue_depth{vm="vm1",queue="upstream_queued"}'), 3, 'two hmp commands and the shared query-status');
      assert.equal(value(m, 'qmpmux_single_flight_joined_total{vm="vm1",command="query-status"}'), 1);
      process.kill(qemu.pid, 'SIGCONT');
      await Promise.all([...pending, ...shared]);
    } finally {
      process.kill(qemu.pid, 'SIGCONT');
    }
    const m = await text();
    assert.equal(value(m, 'qmpmux_queue_depth{vm="vm1",queue="upstream_inflight"}'), 0);
    assert.equal(value(m, 'qmpmux_queue_depth{vm="vm1",queue="upstream_queued"}'), 0);
    const c = clients[0]!;
    const entries = value(m, 'qmpmux_query_cache_entries{vm="vm1"}')!;
    await c.execute('query-target');
    await c.execute('query-target');
    const m2 = await text();
    assert.equal(value(m2, 'qmpmux_query_cache_hits_total{vm="vm1",command="query-target"}'), 1);
    assert.equal(value(m2, 'qmpmux_query_cache_entries{vm="vm1"}'), entries + 1);
    for (const x of clients) x.close();
    fdClient.close();
    await fdClient.until(() => fdClient.closed, 5000, 'closed');
    await sleep(50);
    assert.equal(value(await text(), 'qmpmux_fds_held{vm="vm1"}'), 0, 'no client holds an fd any more');
  });

  it("labels stay bounded: unknown commands and odd event names are 'other'; plugin metric names are checked", async () => {
    const c = await QmpClient.connect(mux.unix);
    for (const name of ['no-such-command-1', 'no-such-command-2', '__org.qmpmux_nope']) await c.execute(name).catch(() => undefined);
    c.close();
    const m = await text();
    const other = m.split('\n').filter((l) => l.startsWith('qmpmux_commands_total{vm="vm1",command="other",outcome="error",'));
    assert.equal(other.reduce((n, l) => n + Number(l.split(' ')[1]), 0), 3);
    assert.ok(!m.includes('no-such-command') && !m.includes('qmpmux_nope'));
    const o = metrics.observer('vm1');
    o.event('lower-case'); // not a QEMU event name
    o.event('X'.repeat(65));
    assert.equal(value(await text(), 'qmpmux_events_total{vm="vm1",event="other"}'), 2);
    const bad: PluginDefinition<object> = { name: 'bad', validate: () => ({}), create: (_o, ctx) => (ctx.metrics.counter('audit_things', 'x'), { name: 'bad' }) };
    await assert.rejects(startProxy(qemu.address, { plugins: [{ definition: bad }], observer: metrics.observer('vm2') }), /metric name 'audit_things' must match/);
  });
});
