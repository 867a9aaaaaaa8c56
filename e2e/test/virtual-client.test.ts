/**
 * Virtual clients (ProxyApi.openVirtualClient): in-process clients that run commands as a network
 * client does — real session, every plugin's hooks — with an identity no network client can claim.
 * Real QEMU throughout.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Proxy, createLogger, definePlugin, errorText, type ClientInfo, type PluginContext } from '@qmpmux/core';
import { RawClient, useProxy, useQemu, waitReady } from '../src/index.ts';

const b = (s: string) => Buffer.from(s, 'latin1');

/** Records what the hooks saw of each client and command. */
function spyPlugin() {
  const seen: { client: number; principal: string | undefined; transport: string; via?: string; command: string }[] = [];
  const connected: ClientInfo[] = [];
  let ctx!: PluginContext;
  const definition = definePlugin<object>({
    name: 'spy',
    validate: () => ({}),
    create(_o, c) {
      ctx = c;
      return {
        name: 'spy',
        async onClientConnect(client) {
          connected.push(client);
        },
        async onCommand(cmd) {
          seen.push({ client: cmd.client.id, principal: cmd.client.principal, transport: cmd.client.peer.transport, via: cmd.client.peer.virtual?.via, command: cmd.command });
        },
      };
    },
  });
  return { definition, seen, connected, ctx: () => ctx };
}

describe('virtual clients', () => {
  const spy = spyPlugin();
  const { mux } = useProxy({ plugins: [{ definition: spy.definition }] });

  const direct = async (lines: string[]) => {
    const c = await RawClient.connect(mux.unix);
    await c.count(1);
    c.send('{"execute":"qmp_capabilities"}');
    await c.count(2);
    const out: string[] = [];
    for (const l of lines) {
      const n = c.messages.length;
      c.send(l);
      await c.count(n + 1);
      out.push(c.received.slice(c.received.lastIndexOf('\r\n', c.received.length - 3) + 2));
    }
    c.close();
    return out;
  };

  it('answers with the bytes a unix client reads, ids of every JSON type echoed as QEMU echoes them', async () => {
    const requests = [
      '{"execute":"query-status","id":1}',
      '{"execute":"query-status","id":"s"}',
      '{"execute":"query-status","id":{"b":1,"a":[true,null]}}',
      '{"execute":"query-status","id":12345678901234567890}',
      '{"execute":"query-status","id":1.0}',
      '{"execute":"query-status"}',
      '{"execute":"no-such-command","id":[1]}',
      '{"execute":"query-status","bogus":1,"id":7}',
      '"just a string"',
    ];
    const v = mux.proxy.openVirtualClient({ principal: 'fleet', via: 'test' });
    const got: string[] = [];
    for (const r of requests) got.push((await v.request(b(r))).toString('latin1'));
    assert.deepEqual(got, await direct(requests));
    assert.ok(got[2]!.includes('"id": {"a": [true, null], "b": 1}'), got[2]);
    v.close();
  });

  it('runs through the plugins with transport virtual, its declared principal and via; listed among clients; no events', async () => {
    const v = mux.proxy.openVirtualClient({ principal: 'fleet', via: 'test', address: 'test:here' });
    await v.request(b('{"execute":"query-name"}'));
    const id = v.id!;
    const info = mux.proxy.clients.get(id)!;
    assert.equal(info.peer.transport, 'virtual');
    assert.equal(info.peer.address, 'test:here');
    assert.deepEqual(info.peer.virtual, { via: 'test', principal: 'fleet' });
    assert.equal(info.principal, 'fleet');
    assert.deepEqual(spy.seen.filter((s) => s.client === id), [{ client: id, principal: 'fleet', transport: 'virtual', via: 'test', command: 'query-name' }]);
    // Events go to network clients, not to it: its next reply is its reply.
    const other = await RawClient.connect(mux.unix);
    await other.count(1);
    other.send('{"execute":"qmp_capabilities"}{"execute":"stop"}{"execute":"cont"}');
    await other.until(() => other.messages.filter((m) => (m.value as { event?: string }).event).length >= 2);
    const r = JSON.parse((await v.request(b('{"execute":"query-status","id":"after"}'))).toString());
    assert.equal(r.id, 'after');
    assert.equal(info.stats.events, 0);
    other.close();
    v.close();
    assert.equal(await v.closed, 'closed');
    assert.equal(mux.proxy.clients.has(id), false, 'gone from clients once closed');
  });

  it('answers what is not exactly one JSON value itself: QEMU parse errors, NOT_ONE_REQUEST; refuses fd-taking commands', async () => {
    const v = mux.proxy.openVirtualClient({ principal: 'fleet', via: 'nats' });
    const ask = async (s: string) => (await v.request(b(s))).toString('latin1');
    const err = (desc: string, id?: string) => `{${id ? `"id": ${id}, ` : ''}"error": {"class": "GenericError", "desc": ${JSON.stringify(desc)}}}\r\n`;
    assert.equal(await ask('{"execute": }'), err('JSON parse error, expecting value'));
    assert.equal(await ask('{"execute":"query-status","id":01}'), err("JSON parse error, stray '01'"), 'the first of QEMU\'s errors');
    assert.equal(await ask('nul'), err("JSON parse error, invalid keyword 'nul'"));
    assert.equal(await ask(''), err(errorText('NOT_ONE_REQUEST', 'nothing')));
    assert.equal(await ask('{"execute":"query-status"'), err(errorText('NOT_ONE_REQUEST', 'an incomplete JSON value')));
    assert.equal(await ask('{"execute":"stop"}{"execute":"cont"}'), err(errorText('NOT_ONE_REQUEST', 'more input after the first JSON value')));
    assert.equal(await ask('{"execute":"getfd","arguments":{"fdname":"x"},"id":"g"}'), err(errorText('NO_FD_PASSING', 'getfd', 'nats'), '"g"'));
    assert.equal(await ask('{"execute":"add-fd","id":2}'), err(errorText('NO_FD_PASSING', 'add-fd', 'nats'), '2'));
    // Nothing of that reached the session: the status is still what it was, and the client still works.
    assert.match(await ask('{"execute":"query-status","id":3}'), /^\{"return": \{.*"status": "running".*\}, "id": 3\}\r\n$/);
    assert.equal(spy.seen.filter((s) => s.client === v.id && s.command !== 'query-status').length, 0);
    v.close();
  });

  it('closing answers requests still waiting with CLOSED_BEFORE_REPLY; the proxy stopping closes it', async () => {
    const v = mux.proxy.openVirtualClient({ principal: 'fleet', via: 'test' });
    const pending = [v.request(b('{"execute":"query-status","id":1}')), v.request(b('{"execute":"query-status","id":2}'))];
    v.close();
    for (const [i, p] of pending.entries()) {
      const r = JSON.parse((await p).toString());
      assert.equal(r.id, i + 1);
      assert.match(r.error.desc, /^qmpmux: the connection closed before the reply/);
    }
    assert.match(JSON.parse((await v.request(b('{"execute":"query-status"}'))).toString()).error.desc, /closed before the reply/);
  });
});

describe('virtual clients around start and stop', () => {
  const qemu = useQemu();

  it('one opened before the proxy starts connects when it starts; stopping the proxy closes it', async () => {
    const proxy = await Proxy.create({ upstream: qemu.address, listen: [], log: createLogger('t', 'error') });
    const v = proxy.openVirtualClient({ principal: 'early', via: 'test' });
    assert.equal(v.id, undefined);
    assert.equal(v.state, 'connecting');
    const reply = v.request(b('{"execute":"query-status","id":"e"}'));
    await proxy.start();
    await waitReady(proxy);
    assert.match((await reply).toString(), /"id": "e"/);
    assert.equal(v.state, 'ready');
    assert.equal(typeof v.id, 'number');
    await proxy.stop();
    await v.closed;
    assert.equal(v.state, 'closed');
  });
});
