/**
 * The command gateway: NATS request/reply on <p>.<vm>.qmp, run as a virtual client of gatewayPrincipal
 * under the policy and hmp-audit plugins. Real QEMU (one behind qmpmux, one direct for reference bytes)
 * and a real nats-server.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { errorText } from '@qmpmux/core';
import { RawClient, startNats, startQemu, type TestNats, type TestQemu } from '@qmpmux/e2e';
import { policyPlugin } from '@qmpmux/plugin-policy';
import { hmpAuditPlugin } from '@qmpmux/plugin-hmp-audit';
import { natsPlugin } from '../src/index.ts';
import { natsClient, natsStats, startMux, until, type Mux, useNats } from './helpers.ts';

const policy = {
  definition: policyPlugin,
  options: {
    principals: [
      { name: 'fleet', match: [{ uid: 4242424 }], profile: 'read-only', allow: ['human-monitor-command'] },
      { name: 'local', match: [{ uid: process.getuid!() }], profile: 'full' },
    ],
  },
};

describe('the NATS command gateway', () => {
  let nats: TestNats;
  let nc: NatsConnection;
  let direct: TestQemu;
  let ref: RawClient;
  let m: Mux;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qmpmux-gw-'));
    nats = await startNats();
    nc = await natsClient(nats.url);
    direct = await startQemu();
    ref = await RawClient.connect(direct.address);
    await ref.count(1);
    ref.send('{"execute":"qmp_capabilities"}');
    await ref.count(2);
    const audit = { definition: hmpAuditPlugin, options: { path: join(dir, 'audit.log'), operators: ['local'] } };
    m = await startMux({ servers: [nats.url], gatewayPrincipal: 'fleet' }, { before: [policy, audit] });
    await until(() => m.lines.some((l) => /connected to NATS/.test(l.msg)), 'the plugin connected');
    await until(async () => nc.request('qmpmux.vm1.qmp', Buffer.from('{}'), { timeout: 500 }).then(() => true, () => false), 'the gateway answers');
  });
  after(async () => {
    ref?.close();
    await m?.stop();
    await direct?.stop();
    await nc?.close();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const ask = async (body: string, subject = 'qmpmux.vm1.qmp') => Buffer.from((await nc.request(subject, Buffer.from(body, 'latin1'), { timeout: 10_000 })).data).toString('latin1');
  /** What QEMU itself answers a direct client: the next message's bytes, line end included. */
  const qemuSays = async (body: string) => {
    const from = ref.received.length;
    const n = ref.messages.length;
    ref.send(body + '\n'); // a number at the end needs one more byte to end, on a socket
    await ref.count(n + 1);
    return ref.received.slice(from);
  };

  it("replies with QEMU's own bytes, ids of every JSON type echoed as QEMU echoes them", async () => {
    const requests = [
      '{"execute":"query-status","id":1}',
      '{"execute":"query-status","id":"abc"}',
      '{"execute":"query-status","id":{"b":1,"a":[true,null,"\u00e9"]}}',
      '{"execute":"query-status","id":12345678901234567890}',
      '{"execute":"query-status","id":1.5e-7}',
      '{"execute":"query-status","id":null}',
      '{"execute":"query-status"}',
      '{"execute":"query-version","id":[1,2]}',
      '{"execute":"query-kvm","id":"k"}',
      '{"execute":"qom-list","arguments":{"path":"/machine"},"id":9}',
    ];
    for (const r of requests) assert.equal(await ask(r), await qemuSays(r), r);
  });

  it("QEMU's errors come through byte for byte too: unknown command, bad arguments, envelope errors, non-objects", async () => {
    for (const r of [
      '{"execute":"query-no-such-thing","id":"x"}',
      '{"execute":"qom-list","arguments":{"path":5},"id":2}',
      '{"execute":"query-status","bogus":1,"id":3}',
      '{"execute":"query-status","arguments":[],"id":4}',
      '{"id":5}',
      '[1,2]',
      '42',
    ]) {
      assert.equal(await ask(r), await qemuSays(r), r);
    }
  });

  it("bad JSON gets QEMU's own parse error (its first, when QEMU would give several)", async () => {
    ref.close();
    for (const r of ['{"execute": }', '{"a" "b"}', 'nul', '{"execute":"query-status","id":01}', '{"execute":"query-status","id":"\\x"}']) {
      // A fresh direct client each time (QEMU serves one at a time): its first reply to these bytes.
      const q = await RawClient.connect(direct.address);
      await q.count(1);
      q.send('{"execute":"qmp_capabilities"}');
      await q.count(2);
      const from = q.received.length;
      q.send(r + '\x01'); // a control byte ends a pending token or message, as the end of a request does
      await q.count(3);
      const qemu = q.received.slice(from);
      q.close();
      await until(() => q.closed, 'the direct client gone');
      assert.equal(await ask(r), qemu.slice(0, qemu.indexOf('\r\n') + 2), r);
    }
    ref = await RawClient.connect(direct.address);
    await ref.count(1);
    ref.send('{"execute":"qmp_capabilities"}');
    await ref.count(2);
  });

  it('a request that is not exactly one JSON object is answered clearly, never left hanging', async () => {
    const err = (desc: string) => `{"error": {"class": "GenericError", "desc": ${JSON.stringify(desc)}}}\r\n`;
    assert.equal(await ask(''), err(errorText('NOT_ONE_REQUEST', 'nothing')));
    assert.equal(await ask('{"execute":"query-status"'), err(errorText('NOT_ONE_REQUEST', 'an incomplete JSON value')));
    assert.equal(await ask('{"execute":"query-status"}{"execute":"query-status"}'), err(errorText('NOT_ONE_REQUEST', 'more input after the first JSON value')));
  });

  it("the policy applies: a command the gateway's principal may not run is refused with the policy's error", async () => {
    assert.equal(await ask('{"execute":"stop","id":"s1"}'), `{"id": "s1", "error": {"class": "GenericError", "desc": "qmpmux: command 'stop' is not permitted for principal 'fleet'"}}\r\n`);
    const status = JSON.parse(await ask('{"execute":"query-status"}'));
    assert.equal(status.return.status, 'running', 'nothing ran');
  });

  it('fd-taking commands are refused clearly (no fd travels over NATS)', async () => {
    assert.equal(
      await ask('{"execute":"getfd","arguments":{"fdname":"x"},"id":"g"}'),
      `{"id": "g", "error": {"class": "GenericError", "desc": ${JSON.stringify(errorText('NO_FD_PASSING', 'getfd', 'nats'))}}}\r\n`,
    );
    assert.match(await ask('{"execute":"add-fd","arguments":{"fdset-id":1}}'), /qmpmux: 'add-fd' takes a file descriptor, which cannot be passed over nats/);
  });

  it('is audited like any client: hmp-audit records the command with the gateway principal and a virtual connection', async () => {
    const reply = JSON.parse(await ask('{"execute":"human-monitor-command","arguments":{"command-line":"info status"},"id":"h"}'));
    assert.match(reply.return, /VM status: running/);
    const refused = JSON.parse(await ask('{"execute":"human-monitor-command","arguments":{"command-line":"quit"},"id":"q"}'));
    assert.match(refused.error.desc, /HMP command 'quit' refused by audit rule 'default:destructive' for principal 'fleet'/);
    await until(() => readFileSync(join(dir, 'audit.log'), 'utf8').includes('"ref"'), 'reply records');
    const records = readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const cmds = records.filter((r) => r.type === 'command');
    assert.deepEqual(
      cmds.map((r) => [r.principal, r.conn.transport, r.conn.address, r.hmp.name, r.decision.allowed, r.id]),
      [
        ['fleet', 'virtual', 'nats:qmpmux.vm1.qmp', 'info status', true, '"h"'],
        ['fleet', 'virtual', 'nats:qmpmux.vm1.qmp', 'quit', false, '"q"'],
      ],
    );
  });

  it('runs on virtual clients listed among the clients, with their principal', async () => {
    const c = await RawClient.connect(m.mux.unix);
    await c.count(1);
    c.send('{"execute":"qmp_capabilities"}{"execute":"__org.qmpmux_query-nats","id":1}');
    await c.count(3);
    const stats = (c.messages[2]!.value as { return: Record<string, number> }).return;
    assert.ok(stats['gateway-served']! > 10);
    c.close();
    const views = [...m.mux.proxy.clients.values()].filter((v) => v.peer.transport === 'virtual');
    assert.ok(views.length >= 1 && views.length <= 4, `between 1 and maxGatewayConcurrency virtual clients, got ${views.length}`);
    for (const v of views) assert.equal(v.principal, 'fleet');
  });
});

describe('the NATS command gateway, configured otherwise', () => {
  const bus = useNats();
  const ask = async (subject: string, body: string) => Buffer.from((await bus.nc.request(subject, Buffer.from(body), { timeout: 10_000 })).data).toString('latin1');

  it('without gatewayPrincipal every request is refused with a clear error (the id echoed)', async () => {
    const m = await startMux({ servers: [bus.nats.url] }, { vm: 'nogw' });
    try {
      await until(() => m.lines.some((l) => /connected to NATS/.test(l.msg)), 'connected');
      await until(async () => (await bus.nc.request('qmpmux.nogw.qmp', Buffer.from('{}'), { timeout: 500 }).then(() => true, () => false)), 'the gateway subscribed');
      assert.equal(
        await ask('qmpmux.nogw.qmp', '{"execute":"query-status","id":7}'),
        `{"id": 7, "error": {"class": "GenericError", "desc": ${JSON.stringify(errorText('GATEWAY_NO_PRINCIPAL'))}}}\r\n`,
      );
      assert.equal([...m.mux.proxy.clients.values()].filter((v) => v.peer.transport === 'virtual').length, 0, 'no virtual client opened');
    } finally {
      await m.stop();
    }
  });

  it('bounded: beyond maxGatewayConcurrency running and maxGatewayQueue waiting, a request is refused at once (GATEWAY_BUSY)', async () => {
    const m = await startMux({ servers: [bus.nats.url], gatewayPrincipal: 'any', maxGatewayConcurrency: 1, maxGatewayQueue: 1 }, { vm: 'busy' });
    try {
      await until(async () => (await bus.nc.request('qmpmux.busy.qmp', Buffer.from('{"execute":"query-name"}'), { timeout: 500 }).then(() => true, () => false)), 'the gateway answers');
      process.kill(m.qemu.pid, 'SIGSTOP'); // QEMU answers nothing now
      const running = ask('qmpmux.busy.qmp', '{"execute":"query-status","id":"a"}');
      await until(() => m.mux.proxy.link.depths.inflight > 0, 'the first request at QEMU');
      const waiting = ask('qmpmux.busy.qmp', '{"execute":"query-status","id":"b"}');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(await ask('qmpmux.busy.qmp', '{"execute":"query-status","id":"c"}'), `{"id": "c", "error": {"class": "GenericError", "desc": ${JSON.stringify(errorText('GATEWAY_BUSY', 1))}}}\r\n`);
      process.kill(m.qemu.pid, 'SIGCONT');
      assert.match(await running, /"id": "a"/);
      assert.match(await waiting, /"id": "b"/);
      assert.equal((await natsStats(m.mux.unix))['gateway-busy'], 1);
    } finally {
      process.kill(m.qemu.pid, 'SIGCONT');
      await m.stop();
    }
  });
});

describe('the NATS command gateway on reload', () => {
  it('takes a new gatewayPrincipal and limits on reload; other options need a restart', async () => {
    const nats = await startNats();
    const nc = await natsClient(nats.url);
    const opts = { servers: [nats.url] };
    const m = await startMux(opts, { vm: 'rl' });
    try {
      const ask = async () => Buffer.from((await nc.request('qmpmux.rl.qmp', Buffer.from('{"execute":"query-status","id":1}'), { timeout: 10_000 })).data).toString();
      await until(async () => (await nc.request('qmpmux.rl.qmp', Buffer.from('{}'), { timeout: 500 }).then(() => true, () => false)), 'the gateway subscribed');
      assert.match(await ask(), /gatewayPrincipal is not set/);
      await m.mux.proxy.reload([{ definition: natsPlugin, options: { ...opts, gatewayPrincipal: 'ops' } }]);
      assert.match(await ask(), /"status": "running"/);
      assert.deepEqual([...m.mux.proxy.clients.values()].filter((v) => v.peer.transport === 'virtual').map((v) => v.principal), ['ops']);
      await m.mux.proxy.reload([{ definition: natsPlugin, options: { ...opts, gatewayPrincipal: 'ops2' } }]);
      assert.match(await ask(), /"status": "running"/);
      assert.deepEqual([...m.mux.proxy.clients.values()].filter((v) => v.peer.transport === 'virtual').map((v) => v.principal), ['ops2'], 'the old principal\'s client is gone');
      await assert.rejects(m.mux.proxy.reload([{ definition: natsPlugin, options: { ...opts, gatewayPrincipal: 'ops2', subjectPrefix: 'other' } }]), /cannot change subjectPrefix while running; restart qmpmux/);
    } finally {
      await m.stop();
      await nc.close();
      await nats.stop();
    }
  });
});
