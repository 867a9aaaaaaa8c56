/**
 * WebSocket clients (qmp.json and qmp.msgpack) beside unix clients on one real QEMU: framing, 64-bit
 * integers, limits, Origin, tokens, keepalive and the slow-client policy.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClient } from '@qmpmux/client';
import { createLogger, type ClientInfo, type LogLevel, type PluginDefinition } from '@qmpmux/core';
import { encodeTokenEntry } from '@qmpmux/transports';
import { makeTestCa, RawClient, startProxy, startQemu, useProxy, useWssProxy, WsClient, WsHandshakeError, type TestProxy, type TestQemu } from '../src/index.ts';

const NEGOTIATE = '{"execute":"qmp_capabilities"}';

/** A log that keeps its lines, to look for what must not be there. */
function capturingLog(level: LogLevel = 'debug') {
  const lines: string[] = [];
  const log = createLogger('qmpmux', level, (l, tag, msg, fields) => lines.push(`${l} [${tag}] ${msg} ${JSON.stringify(fields ?? {})}`));
  return { log, lines };
}

/** A negotiated qmp.json client, its greeting and negotiation reply already received. */
async function jsonClient(url: string): Promise<WsClient> {
  const c = await WsClient.connect(url, { protocols: ['qmp.json'] });
  await c.count(1);
  c.send(NEGOTIATE);
  await c.count(2);
  return c;
}

describe('WebSocket clients beside unix clients on one QEMU', () => {
  const { log, lines } = capturingLog('warn');
  const { mux } = useProxy({ ws: true, websocket: { maxPayload: 64 * 1024 }, limits: { maxClientOutputBytes: 256 * 1024 }, log });

  it('qmp.json frames carry exactly the bytes a unix client receives, one message per frame; msgpack carries the same values', async () => {
    const unix = await RawClient.connect(mux.unix);
    const json = await WsClient.connect(mux.ws, { protocols: ['qmp.json'] });
    const msgpack = await WsClient.connect(mux.ws, { protocols: ['qmp.msgpack'] });
    assert.equal(json.protocol, 'qmp.json');
    assert.equal(msgpack.protocol, 'qmp.msgpack');
    await Promise.all([unix.count(1), json.count(1), msgpack.count(1)]);
    assert.equal(json.texts[0], unix.received, 'the greeting, \\r\\n included');
    assert.equal(json.frames[0]!.binary, false);
    assert.deepEqual(msgpack.values[0], JSON.parse(unix.messages[0]!.raw));
    assert.equal(msgpack.frames[0]!.binary, true);

    unix.send(NEGOTIATE);
    json.send(NEGOTIATE);
    msgpack.sendValue({ execute: 'qmp_capabilities' });
    await Promise.all([unix.count(2), json.count(2), msgpack.count(2)]);
    const unixBase = unix.received.length;

    // The same ids from every client, sent interleaved; a mix of replies and errors.
    const command = (i: number) =>
      i % 3 === 0 ? `{"execute":"query-status","id":${i}}` : i % 3 === 1 ? `{"execute":"device_del","arguments":{"id":"dev${i}"},"id":${i}}` : `{"execute":"query-name","id":"n${i}"}`;
    for (let i = 0; i < 30; i++) {
      unix.send(command(i));
      json.send(command(i));
      msgpack.sendValue({ execute: 'device_del', arguments: { id: `mp${i}` }, id: i });
    }
    await Promise.all([unix.count(32), json.count(32), msgpack.count(32)]);
    assert.equal(json.texts.slice(2).join(''), unix.received.slice(unixBase), 'identical reply bytes, in order');
    for (const [i, t] of json.texts.slice(2).entries()) {
      assert.ok(t.endsWith('}\r\n') && t.indexOf('\r\n') === t.length - 2, `frame ${i} holds exactly one message`);
    }
    msgpack.values.slice(2).forEach((v, i) => assert.deepEqual(v, { id: i, error: { class: 'DeviceNotFound', desc: `Device 'mp${i}' not found` } }));

    // Events: identical bytes for json, the same value for msgpack.
    const actor = await QmpClient.connect(mux.unix);
    await actor.execute('stop');
    await actor.execute('cont');
    await Promise.all([unix.count(34), json.count(34), msgpack.count(34)]);
    const unixEvents = unix.messages.slice(32).map((m) => m.raw + '\r\n');
    assert.deepEqual(json.texts.slice(32), unixEvents);
    assert.deepEqual(
      msgpack.values.slice(32),
      unixEvents.map((e) => JSON.parse(e)),
    );
    assert.deepEqual(
      msgpack.values.slice(32).map((v) => v.event),
      ['STOP', 'RESUME'],
    );
    for (const c of [unix, json, msgpack]) c.close();
    actor.close();
  });

  it('a frame may hold part of a message, several messages, or a single byte, as on a byte stream', async () => {
    const c = await WsClient.connect(mux.ws);
    assert.equal(c.protocol, '', 'no subprotocol offered, none echoed: qmp.json');
    await c.count(1);
    c.send('{"execute":"qmp_capabilities"}{"execute":"query-');
    c.send('status","id":"a"}{"execute":"query-name","id":"b"}  ');
    for (const ch of '{"execute":"query-status","id":"c"}') c.send(ch);
    c.send(Buffer.from('{"execute":"query-name","id":"binary"}')); // a bridge may send binary frames
    c.send('{"execute": }');
    await c.count(7);
    const replies = c.texts.slice(1);
    assert.deepEqual(
      replies.map((t) => JSON.parse(t).id ?? null),
      [null, 'a', 'b', 'c', 'binary', null],
    );
    assert.equal(replies[0], '{"return": {}}\r\n');
    assert.match(replies[5]!, /^\{"error": \{"class": "GenericError", "desc": "JSON parse error, expecting value"\}\}\r\n$/);
    c.close();
  });

  it('64-bit ids and arguments stay exact through qmp.msgpack', async () => {
    const c = await WsClient.connect(mux.ws, { protocols: ['qmp.msgpack'] });
    await c.count(1);
    c.sendValue({ execute: 'qmp_capabilities' });
    const ids = [18446744073709551615n, -9223372036854775808n, 9007199254740993n, 2 ** 53];
    for (const id of ids) c.sendValue({ execute: 'query-name', id });
    // A uint64 argument beyond 2^53 reaches QEMU exactly (its error names the value it parsed).
    c.sendValue({ execute: 'qom-get', arguments: { path: '/machine', property: 'type' }, id: 'qom' });
    await c.count(2 + ids.length + 1);
    const v = c.values;
    assert.deepEqual(
      v.slice(2, 2 + ids.length).map((r) => r.id),
      ids,
    );
    assert.equal(typeof v[2].id, 'bigint');
    assert.equal(v[2 + ids.length].id, 'qom');
    // The JSON client sees the same id text QEMU echoed.
    const j = await jsonClient(mux.ws);
    j.send('{"execute":"query-name","id":18446744073709551615}');
    await j.count(3);
    assert.equal(j.texts[2], '{"return": {}, "id": 18446744073709551615}\r\n');
    c.close();
    j.close();
  });

  it('an oversize frame closes only its own connection (1009), before it is buffered, and disturbs no one', async () => {
    const unix = await QmpClient.connect(mux.unix);
    const other = await jsonClient(mux.ws);
    const big = await jsonClient(mux.ws);
    const before = mux.proxy.clients.size;
    big.send(`{"execute":"query-name","id":"${'x'.repeat(80 * 1024)}"}`);
    other.send('{"execute":"query-status","id":"during"}');
    assert.equal((await big.closing()).code, 1009);
    await other.count(3);
    assert.equal(JSON.parse(other.texts[2]!).id, 'during');
    assert.equal(((await unix.execute('query-status')) as { status: string }).status, 'running');
    await sleep(50);
    assert.equal(mux.proxy.clients.size, before - 1);
    assert.ok(lines.some((l) => l.includes('WebSocket protocol error') && l.includes('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')), 'the reason is logged');
    unix.close();
    other.close();
  });

  it('qmp.msgpack closes on a text frame (1003) or bytes that are not MessagePack (1007)', async () => {
    const text = await WsClient.connect(mux.ws, { protocols: ['qmp.msgpack'] });
    await text.count(1);
    text.send(NEGOTIATE);
    assert.equal((await text.closing()).code, 1003);
    const garbage = await WsClient.connect(mux.ws, { protocols: ['qmp.msgpack'] });
    await garbage.count(1);
    garbage.send(Buffer.from([0xc1, 0x00]));
    const closed = await garbage.closing();
    assert.equal(closed.code, 1007);
    assert.match(closed.reason, /MessagePack/);
  });

  it('refuses a page of another origin with 403 before any QMP, and lets its own origin in', async () => {
    const newest = () => Math.max(0, ...mux.proxy.clients.keys());
    const probe = await jsonClient(mux.ws);
    const last = newest();
    await assert.rejects(
      WsClient.connect(mux.ws, { origin: 'https://evil.example' }),
      (e: unknown) => e instanceof WsHandshakeError && e.status === 403,
    );
    assert.equal(newest(), last, 'no session was created');
    probe.close();
    const own = new URL(mux.ws.replace(/^ws/, 'http')).origin;
    const ok = await WsClient.connect(mux.ws, { origin: own });
    await ok.count(1);
    assert.match(ok.texts[0]!, /^\{"QMP"/);
    ok.close();
    await assert.rejects(WsClient.connect(mux.ws.replace(/\/qmp$/, '/other')), (e: unknown) => e instanceof WsHandshakeError && e.status === 404);
  });

  it('a WebSocket client that stops reading is disconnected by maxClientOutputBytes; the others go on', async () => {
    const watcher = await QmpClient.connect(mux.unix);
    const slow = await jsonClient(mux.ws);
    const id = Math.max(...mux.proxy.clients.keys());
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    // ~40 bytes in, ~150 KiB out each: the output outgrows the socket buffers and then the limit.
    slow.send('{"execute":"query-qmp-schema"}'.repeat(400));
    const t0 = Date.now();
    while (mux.proxy.clients.has(id)) {
      assert.ok(Date.now() - t0 < 20_000, 'the slow client was not disconnected within 20 s');
      await sleep(20);
    }
    assert.ok(lines.some((l) => l.includes('maxClientOutputBytes')), 'disconnected by the output limit, not by anything else');
    assert.equal(((await watcher.execute('query-status')) as { status: string }).status, 'running');
    watcher.close();
  });
});

describe('WebSocket identity, origins and keepalive', () => {
  let qemu: TestQemu;
  let mux: TestProxy;
  const seen: { transport: string; token: string | undefined }[] = [];
  const tokenPlugin: PluginDefinition<void> = {
    name: 'test-token',
    validate: () => undefined,
    create: () => ({
      name: 'test-token',
      async onClientConnect(client: ClientInfo) {
        seen.push({ transport: client.peer.transport, token: client.peer.token });
        if (client.peer.token !== 'sesame') return { action: 'refuse', reason: 'bad token' };
      },
    }),
  };
  const { log, lines } = capturingLog('debug');
  before(async () => {
    qemu = await startQemu();
    mux = await startProxy(qemu.address, {
      ws: true,
      plugins: [{ definition: tokenPlugin }],
      websocket: { origins: ['https://ops.example'], keepaliveMs: 150, keepaliveTimeoutMs: 150 },
      log,
    });
  });
  after(async () => {
    await mux?.stop();
    await qemu?.stop();
  });

  it('delivers a bearer token from the Authorization header in Peer.token', async () => {
    seen.length = 0;
    const c = await WsClient.connect(mux.ws, { headers: { Authorization: 'Bearer sesame' } });
    await c.count(1);
    assert.match(c.texts[0]!, /^\{"QMP"/);
    assert.deepEqual(seen, [{ transport: 'ws', token: 'sesame' }]);
    c.close();
  });

  it('delivers a token from a qmp.token.<base64url> subprotocol entry and never echoes that entry', async () => {
    seen.length = 0;
    const c = await WsClient.connect(mux.ws, { protocols: ['qmp.msgpack', encodeTokenEntry('sesame')] });
    assert.equal(c.headers['sec-websocket-protocol'], 'qmp.msgpack');
    await c.count(1);
    assert.ok('QMP' in c.values[0]);
    assert.deepEqual(seen, [{ transport: 'ws', token: 'sesame' }]);
    c.close();
  });

  it('a wrong or missing token is refused by the policy with an error, then closed; the token is never logged', async () => {
    seen.length = 0;
    const wrong = await WsClient.connect(mux.ws, { protocols: ['qmp.json', encodeTokenEntry('wrong-guess')] });
    const none = await WsClient.connect(mux.ws);
    for (const c of [wrong, none]) {
      await c.closing();
      assert.equal(c.frames.length, 1);
      const reply = JSON.parse(c.texts[0]!);
      assert.equal(reply.error.class, 'GenericError');
      assert.match(reply.error.desc, /bad token/);
    }
    assert.deepEqual(seen, [
      { transport: 'ws', token: 'wrong-guess' },
      { transport: 'ws', token: undefined },
    ]);
    const secrets = ['sesame', 'wrong-guess', encodeTokenEntry('sesame').slice(10), encodeTokenEntry('wrong-guess').slice(10)];
    assert.ok(lines.length > 0, 'something was logged at debug level');
    for (const l of lines) for (const s of secrets) assert.ok(!l.includes(s), `a token leaked into the log: ${l}`);
  });

  it('an origins list admits exactly its origins (and replaces the same-origin rule)', async () => {
    const ok = await WsClient.connect(mux.ws, { origin: 'https://ops.example', headers: { Authorization: 'Bearer sesame' } });
    await ok.count(1);
    ok.close();
    const own = new URL(mux.ws.replace(/^ws/, 'http')).origin;
    for (const origin of [own, 'https://ops.example.evil', 'http://ops.example']) {
      await assert.rejects(WsClient.connect(mux.ws, { origin }), (e: unknown) => e instanceof WsHandshakeError && e.status === 403, origin);
    }
  });

  it('drops a peer that does not answer pings and keeps one that does', async () => {
    const silent = await WsClient.connect(mux.ws, { autoPong: false, headers: { Authorization: 'Bearer sesame' } });
    const alive = await WsClient.connect(mux.ws, { headers: { Authorization: 'Bearer sesame' } });
    await Promise.all([silent.count(1), alive.count(1)]);
    assert.equal((await silent.closing(5_000)).code, 1006, 'terminated, no close handshake');
    await sleep(400); // more than two ping intervals
    assert.equal(alive.closed, undefined);
    alive.send(NEGOTIATE);
    await alive.count(2);
    assert.ok(lines.some((l) => l.includes('did not answer a ping')));
    alive.close();
  });
});

describe('wss:// with TLS client certificates', () => {
  const wss = useWssProxy('qmpmux-wss-');

  it('a verified client certificate becomes Peer.certificate; without one the peer has none', async () => {
    const client = wss.ca.issue('client', { subject: '/O=Example/CN=ops', san: ['URI:spiffe://example/ops', 'DNS:ops.example'] });
    assert.match(wss.mux.ws, /^wss:\/\/127\.0\.0\.1:\d+\/qmp$/);
    const trust = readFileSync(wss.ca.cert);
    const withCert = await WsClient.connect(wss.mux.ws, { protocols: ['qmp.msgpack'], ca: trust, cert: readFileSync(client.cert), key: readFileSync(client.key) });
    await withCert.count(1);
    assert.ok('QMP' in withCert.values[0]);
    const without = await WsClient.connect(wss.mux.ws, { ca: trust });
    await without.count(1);
    assert.equal(wss.peers.length, 2);
    assert.equal(wss.peers[0]!.transport, 'wss');
    assert.equal(wss.peers[0]!.certificate?.subject, 'O=Example,CN=ops');
    assert.deepEqual(wss.peers[0]!.certificate?.subjectAltNames, ['URI:spiffe://example/ops', 'DNS:ops.example']);
    assert.match(wss.peers[0]!.certificate?.fingerprint256 ?? '', /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.equal(wss.peers[1]!.certificate, undefined);
    withCert.close();
    without.close();
  });

  it('a client certificate from another CA ends the connection before any WebSocket', async () => {
    const rogue = makeTestCa(join(wss.dir, 'rogue'), '/CN=rogue CA').issue('rogue', { subject: '/CN=ops' });
    const before = wss.peers.length;
    await assert.rejects(WsClient.connect(wss.mux.ws, { ca: readFileSync(wss.ca.cert), cert: readFileSync(rogue.cert), key: readFileSync(rogue.key) }));
    assert.equal(wss.peers.length, before, 'no session');
  });
});
