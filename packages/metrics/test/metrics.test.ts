import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startProxy, startQemu, waitReady } from '@qmpmux/e2e';
import { MetricsRegistry, notReadyOf, startHttp } from '../src/index.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const get = async (url: string) => {
  const r = await fetch(url);
  return { status: r.status, text: await r.text() };
};
const value = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

test('metrics move with commands and clients; /readyz flips when QEMU dies and comes back; the cache serves QEMU bytes and empties on reconnect', async () => {
  const qemu = await startQemu();
  const metrics = new MetricsRegistry({ processMetrics: false });
  const p = await startProxy(qemu.address, { observer: metrics.observer('default') });
  metrics.attach(p.proxy);
  const http = await startHttp({ address: '127.0.0.1:0', notReady: () => notReadyOf([p.proxy]), metrics });
  const base = `http://${http.bound}`;
  try {
    await sleep(200); // query-commands of the link has been read
    assert.equal((await get(`${base}/healthz`)).status, 200);
    assert.equal((await get(`${base}/readyz`)).status, 200);
    const c = await RawClient.connect(p.unix);
    c.send('{"execute":"qmp_capabilities"}');
    c.send('{"execute":"query-status","id":1}');
    await c.reply('1');
    c.send('{"execute":"no-such-command","id":2}');
    await c.reply('2');
    c.send('{"execute":"query-qmp-schema","id":3}');
    const first = await c.reply('3');
    c.send('{"execute":"query-qmp-schema","id":"x"}');
    const second = await c.reply('"x"');
    assert.equal(second.raw.replace('"id": "x"', '"id": 3'), first.raw, 'the cached answer is byte-identical but for the id');
    const m = (await get(`${base}/metrics`)).text;
    assert.equal(value(m, 'qmpmux_commands_total{vm="default",command="query-status",outcome="ok",source="qemu"}'), 1);
    assert.equal(value(m, 'qmpmux_commands_total{vm="default",command="other",outcome="error",source="qemu"}'), 1);
    assert.equal(value(m, 'qmpmux_commands_total{vm="default",command="query-qmp-schema",outcome="ok",source="cache"}'), 1);
    assert.equal(value(m, 'qmpmux_clients{vm="default",transport="unix"}'), 1);
    assert.equal(value(m, 'qmpmux_upstream_state{vm="default",state="ready"}'), 1);
    assert.equal(value(m, 'qmpmux_query_cache_entries{vm="default"}'), 1);

    await qemu.kill();
    await c.until(() => c.closed, 5000, 'close');
    const nr = await get(`${base}/readyz`);
    assert.equal(nr.status, 503);
    assert.deepEqual(JSON.parse(nr.text).notReady.map((x: { vm: string }) => x.vm), ['default']);
    const m2 = (await get(`${base}/metrics`)).text;
    assert.equal(value(m2, 'qmpmux_query_cache_entries{vm="default"}'), 0, 'the cache empties on reconnect');
    assert.equal(value(m2, 'qmpmux_client_disconnects_total{vm="default",transport="unix",reason="upstream_lost"}'), 1);
    assert.equal(value(m2, 'qmpmux_upstream_reconnects_total{vm="default"}'), 1);

    await qemu.restart();
    await waitReady(p.proxy);
    assert.equal((await get(`${base}/readyz`)).status, 200);
  } finally {
    await http.close();
    await p.stop();
    await qemu.stop();
  }
});

test("a VM gone for good: forget() drops its series, another VM's stay", async () => {
  const q1 = await startQemu();
  const q2 = await startQemu();
  const metrics = new MetricsRegistry({ processMetrics: false });
  const a = await startProxy(q1.address, { name: 'a', observer: metrics.observer('a') });
  const b = await startProxy(q2.address, { name: 'b', observer: metrics.observer('b') });
  const detachA = metrics.attach(a.proxy);
  metrics.attach(b.proxy);
  try {
    for (const p of [a, b]) {
      const c = await RawClient.connect(p.unix);
      c.send('{"execute":"qmp_capabilities"}{"execute":"query-status","id":1}');
      await c.reply('1');
      c.close();
    }
    const before = await metrics.text();
    assert.match(before, /qmpmux_commands_total\{vm="a",/);
    assert.match(before, /qmpmux_command_duration_seconds_bucket\{le="[^"]+",vm="a",/);
    await metrics.forget('a'); // still attached: nothing is dropped
    assert.match(await metrics.text(), /qmpmux_upstream_state\{vm="a",state="ready"\} 1/);
    detachA();
    await a.stop();
    await metrics.forget('a');
    const after = await metrics.text();
    assert.doesNotMatch(after, /vm="a"/);
    assert.match(after, /qmpmux_commands_total\{vm="b",command="query-status",outcome="ok",source="qemu"\} 1/);
    assert.match(after, /qmpmux_upstream_state\{vm="b",state="ready"\} 1/);
  } finally {
    await b.stop();
    await q1.stop();
    await q2.stop();
  }
});
