/**
 * Principals and command policy against a real QEMU: unix clients running under other uids, TLS clients
 * with certificates made for the test, refusals before the greeting and per command.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { QmpClient, QmpError } from '@qmpmux/client';
import { makeTestCa, startProxy, startQemu, useProxy, WsClient, type TestCa, type TestProxy, type TestQemu } from '@qmpmux/e2e';
import { encodeTokenEntry } from '@qmpmux/transports';
import { clientsPlugin } from '@qmpmux/plugin-clients';
import { policyPlugin } from '../src/index.ts';
import { TestAccounts, type TestUser } from './helpers.ts';
import { TlsQmp, UserClient } from './line-qmp.ts';

const refusal = (why: string) => ({ error: { class: 'GenericError', desc: `qmpmux: connection refused: ${why}` } });

describe('policy over unix sockets, by uid, user and group', { skip: !TestAccounts.available() && 'needs root to create test users' }, () => {
  let qemu: TestQemu;
  let mux: TestProxy;
  const accounts = new TestAccounts();
  let ops: TestUser;
  let viewer: TestUser;
  let stranger: TestUser;
  let socket: string;

  before(async () => {
    const grp = accounts.group('qmxg');
    ops = accounts.user('qmxops', { groups: [grp] });
    viewer = accounts.user('qmxview');
    stranger = accounts.user('qmxnone');
    qemu = await startQemu();
    mux = await startProxy(qemu.address, {
      tcp: false,
      unixMode: 0o666,
      plugins: [
        {
          definition: policyPlugin,
          options: {
            principals: [
              { name: 'root', match: [{ uid: 0 }], profile: 'full' },
              { name: 'operator', match: [{ group: grp }], profile: 'vm-control' },
              { name: 'viewer', match: [{ user: viewer.name }], profile: 'read-only', deny: ['query-qmp-schema'] },
            ],
          },
        },
        { definition: clientsPlugin },
      ],
    });
    socket = mux.unix.slice('unix:'.length);
    chmodSync(dirname(socket), 0o755);
  });
  after(async () => {
    await mux?.stop();
    await qemu?.stop();
    accounts.remove();
  });

  it('a uid that matches no principal is refused before the greeting, with a message naming it', async () => {
    const c = UserClient.start(socket, stranger);
    assert.deepEqual(await c.message(1), refusal(`no principal matches this connection (unix peer uid ${stranger.uid} gid ${stranger.gid})`));
    await c.ended();
    assert.equal(c.messages.length, 1);
  });

  it('a read-only user may query, and is refused control with the command and principal named', async () => {
    const c = UserClient.start(socket, viewer);
    await c.negotiate();
    assert.equal((await c.execute('query-status')).return.status, 'running');
    assert.deepEqual((await c.execute('stop')).error, { class: 'GenericError', desc: "qmpmux: command 'stop' is not permitted for principal 'viewer'" });
    assert.deepEqual((await c.execute('query-qmp-schema')).error, { class: 'GenericError', desc: "qmpmux: command 'query-qmp-schema' is not permitted for principal 'viewer'" });
    assert.deepEqual((await c.execute('human-monitor-command', { 'command-line': 'info status' })).error.desc, "qmpmux: command 'human-monitor-command' is not permitted for principal 'viewer'");
    assert.deepEqual((await c.execute('__org.qmpmux_query-principal')).return, { principal: 'viewer' });
    const status = await c.execute('query-status');
    assert.equal(status.return.status, 'running', 'the refused stop never reached QEMU');
    c.close();
    await c.ended();
  });

  it("query-commands lists exactly what the principal may run, qmpmux's own commands included", async () => {
    const c = UserClient.start(socket, viewer);
    await c.negotiate();
    const names: string[] = (await c.execute('query-commands')).return.map((e: { name: string }) => e.name);
    assert.ok(names.includes('query-status') && names.includes('query-commands') && names.includes('qmp_capabilities'));
    assert.ok(names.includes('__org.qmpmux_query-principal') && names.includes('__org.qmpmux_query-clients'));
    for (const n of ['stop', 'cont', 'quit', 'device_add', 'human-monitor-command', 'query-qmp-schema', 'qom-get']) assert.ok(!names.includes(n), n);
    for (const n of names) assert.ok(/^(query-|x-query-|x-debug-query-|qom-list|device-list-properties|trace-event-get-state|qmp_capabilities|__org\.qmpmux_query-)/.test(n), n);
    c.close();

    const root = await QmpClient.connect(mux.unix);
    const all = (await root.execute<{ name: string }[]>('query-commands')).map((e) => e.name);
    assert.ok(all.length > names.length + 50, `full sees everything (${all.length} vs ${names.length})`);
    assert.ok(all.includes('quit') && all.includes('__org.qmpmux_query-clients'));
    root.close();
  });

  it("query-commands and query-qmp-schema stay filtered when qmpmux answers them from its query cache", async () => {
    // root asks first: the answers are cached; then each restricted principal gets its own view of them.
    const root = await QmpClient.connect(mux.unix);
    const allCommands = (await root.execute<{ name: string }[]>('query-commands')).map((e) => e.name);
    const allSchema = (await root.execute<{ name: string; 'meta-type': string }[]>('query-qmp-schema')).filter((e) => e['meta-type'] === 'command');
    assert.ok(allCommands.includes('quit') && allSchema.some((e) => e.name === 'quit'));
    root.close();
    const v = UserClient.start(socket, viewer);
    await v.negotiate();
    const names: string[] = (await v.execute('query-commands')).return.map((e: { name: string }) => e.name);
    assert.ok(names.includes('query-status') && !names.includes('quit') && !names.includes('qom-get'), names.join(' '));
    v.close();
    await v.ended();
    const o = UserClient.start(socket, ops);
    await o.negotiate();
    const schema: { name: string; 'meta-type': string }[] = (await o.execute('query-qmp-schema')).return;
    const commands = schema.filter((e) => e['meta-type'] === 'command').map((e) => e.name);
    assert.ok(commands.includes('stop') && !commands.includes('quit') && !commands.includes('qom-set'), commands.join(' '));
    o.close();
    await o.ended();
  });

  it('query-qmp-schema shows a principal only the commands it may run (types and events stay)', async () => {
    const c = UserClient.start(socket, ops);
    await c.negotiate();
    const schema: { name: string; 'meta-type': string }[] = (await c.execute('query-qmp-schema')).return;
    const commands = schema.filter((e) => e['meta-type'] === 'command').map((e) => e.name);
    for (const n of ['stop', 'cont', 'query-status', 'qmp_capabilities']) assert.ok(commands.includes(n), n);
    for (const n of ['quit', 'device_add', 'human-monitor-command', 'qom-set']) assert.ok(!commands.includes(n), n);
    assert.ok(schema.some((e) => e['meta-type'] === 'event' && e.name === 'STOP'), 'events stay');
    assert.ok(schema.some((e) => e['meta-type'] === 'object'), 'types stay');
    c.close();
    await c.ended();

    const root = await QmpClient.connect(mux.unix);
    const all = (await root.execute<{ name: string; 'meta-type': string }[]>('query-qmp-schema')).filter((e) => e['meta-type'] === 'command').map((e) => e.name);
    assert.ok(all.includes('quit') && all.length > commands.length + 50, `full sees every command (${all.length} vs ${commands.length})`);
    root.close();
  });

  it('group membership from the group database makes an operator: stop and cont, but not quit', async () => {
    const c = UserClient.start(socket, ops);
    await c.negotiate();
    assert.deepEqual((await c.execute('__org.qmpmux_query-principal')).return, { principal: 'operator' });
    assert.deepEqual((await c.execute('stop')).return, {});
    assert.equal((await c.execute('query-status')).return.status, 'paused');
    assert.deepEqual((await c.execute('cont')).return, {});
    assert.equal((await c.execute('quit')).error.desc, "qmpmux: command 'quit' is not permitted for principal 'operator'");
    c.close();
    await c.ended();
  });

  it('exec-oob commands are checked too', async () => {
    const v = UserClient.start(socket, viewer);
    await v.message(1);
    v.proc.stdin!.write('{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":"n"}{"exec-oob":"stop","id":"o"}');
    await v.message(3);
    assert.deepEqual(v.messages.find((m) => m.id === 'o'), { id: 'o', error: { class: 'GenericError', desc: "qmpmux: command 'stop' is not permitted for principal 'viewer'" } });
    v.close();
  });

  it('__org.qmpmux_query-clients shows each connected principal', async () => {
    const v = UserClient.start(socket, viewer);
    await v.negotiate();
    const root = await QmpClient.connect(mux.unix);
    const list = await root.execute<{ principal?: string; uid?: number }[]>('__org.qmpmux_query-clients');
    assert.deepEqual(
      list.map((e) => [e.uid, e.principal]).sort(),
      [
        [0, 'root'],
        [viewer.uid, 'viewer'],
      ].sort(),
    );
    root.close();
    v.close();
  });
});

describe('policy over TLS, by client certificate', () => {
  let qemu: TestQemu;
  let dir: string;
  let ca: TestCa;
  let other: TestCa;
  const muxes: TestProxy[] = [];
  let certs: Record<string, { cert: string; key: string }>;

  /** A proxy with a TLS listener; the previous one stops first (QEMU's monitor takes one connection). */
  const start = async (requireClientCert: boolean, principals: unknown[], unmatched?: unknown) => {
    await muxes.at(-1)?.stop();
    const m = await startProxy(qemu.address, {
      tcp: true,
      listen: ['tls:127.0.0.1:0'],
      tls: { ...ca.issue(`server${muxes.length}`, { subject: '/CN=localhost', san: ['DNS:localhost', 'IP:127.0.0.1'], server: true }), ca: ca.cert, requireClientCert },
      plugins: [{ definition: policyPlugin, options: { principals, ...(unmatched ? { unmatched } : {}) } }],
    });
    muxes.push(m);
    return { mux: m, tls: m.proxy.listeners.find((l) => l.bound.startsWith('tls:'))!.bound };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qmpmux-tls-'));
    ca = makeTestCa(join(dir, 'ca'));
    other = makeTestCa(join(dir, 'other'), '/CN=someone else');
    certs = {
      ops: ca.issue('ops', { subject: '/O=Example\\, Inc/CN=ops-client', san: ['DNS:ops.example'] }),
      agent: ca.issue('agent', { subject: '/CN=agent', san: ['URI:spiffe://example/agent'] }),
      nobody: ca.issue('nobody', { subject: '/CN=nobody' }),
      forged: other.issue('forged', { subject: '/CN=ops-client' }),
    };
    qemu = await startQemu();
  });
  after(async () => {
    await muxes.at(-1)?.stop();
    await qemu?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const principals = [
    { name: 'ops', match: [{ cn: 'ops-client' }], profile: 'full' },
    { name: 'agent', match: [{ san: 'URI:spiffe://example/agent' }], profile: 'read-only' },
  ];

  it('a verified certificate picks the principal by CN or SAN, and Peer.certificate describes it', async () => {
    const { mux, tls: addr } = await start(true, principals);
    const c = TlsQmp.connect(addr, ca.cert, certs.ops);
    await c.negotiate();
    assert.deepEqual((await c.execute('__org.qmpmux_query-principal')).return, { principal: 'ops' });
    const peer = [...mux.proxy.clients.values()][0]!.peer;
    assert.equal(peer.transport, 'tls');
    assert.equal(peer.certificate?.subject, 'O=Example\\, Inc,CN=ops-client');
    assert.deepEqual(peer.certificate?.subjectAltNames, ['DNS:ops.example']);
    assert.match(peer.certificate!.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    c.close();

    const a = TlsQmp.connect(addr, ca.cert, certs.agent);
    await a.negotiate();
    assert.deepEqual((await a.execute('__org.qmpmux_query-principal')).return, { principal: 'agent' });
    assert.equal((await a.execute('stop')).error.desc, "qmpmux: command 'stop' is not permitted for principal 'agent'");
    a.close();
  });

  it('requireClientCert refuses, in the handshake, a client without a certificate or with one from another CA', async () => {
    const { tls: addr } = await start(true, principals);
    for (const client of [undefined, certs.forged]) {
      const c = TlsQmp.connect(addr, ca.cert, client);
      await c.ended();
      assert.equal(c.messages.length, 0, 'no greeting');
    }
  });

  it('without requireClientCert, a client without a certificate reaches the policy and is refused before the greeting', async () => {
    const { tls: addr } = await start(false, principals);
    const c = TlsQmp.connect(addr, ca.cert);
    await c.ended();
    assert.equal(c.messages.length, 1);
    assert.match(c.messages[0]!.error.desc, /^qmpmux: connection refused: no principal matches this connection \(tls peer 127\.0\.0\.1:\d+, no client certificate\)$/);
    const forged = TlsQmp.connect(addr, ca.cert, certs.forged);
    await forged.ended();
    assert.equal(forged.messages.length, 0, 'a certificate that does not verify is refused even when none is required');
    const n = TlsQmp.connect(addr, ca.cert, certs.nobody);
    await n.ended();
    assert.match(n.messages[0]!.error.desc, /no principal matches this connection \(tls peer [^,]+, certificate CN=nobody\)/);
  });

  it('an unmatched connection gets the fallback principal when one is configured', async () => {
    const { mux, tls: addr } = await start(false, [...principals, { name: 'guest', profile: 'read-only' }], { principal: 'guest' });
    const c = TlsQmp.connect(addr, ca.cert, certs.nobody);
    await c.negotiate();
    assert.deepEqual((await c.execute('__org.qmpmux_query-principal')).return, { principal: 'guest' });
    assert.equal((await c.execute('stop')).error.desc, "qmpmux: command 'stop' is not permitted for principal 'guest'");
    c.close();
    const t = await QmpClient.connect(mux.tcp);
    assert.deepEqual(await t.execute('__org.qmpmux_query-principal'), { principal: 'guest' }, 'plain TCP has no identity: fallback too');
    await assert.rejects(t.execute('cont'), (e: unknown) => e instanceof QmpError && e.desc === "qmpmux: command 'cont' is not permitted for principal 'guest'");
    t.close();
  });
});

describe('policy over WebSocket, by bearer token', () => {
  let qemu: TestQemu;
  let mux: TestProxy;
  let dir: string;
  const FILE_TOKEN = 'file-token-7f3a9c0e5d2b4a61';
  const ENV_TOKEN = 'env-token-0b8e2d4c6a1f3e57';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qmpmux-token-'));
    const file = join(dir, 'agent.token');
    writeFileSync(file, FILE_TOKEN + '\n', { mode: 0o600 });
    process.env.QMPMUX_POLICY_TEST_TOKEN = ENV_TOKEN;
    qemu = await startQemu();
    mux = await startProxy(qemu.address, {
      ws: true,
      plugins: [
        {
          definition: policyPlugin,
          options: {
            principals: [
              { name: 'agent', match: [{ token: { file } }], profile: 'vm-control' },
              { name: 'robot', match: [{ token: { env: 'QMPMUX_POLICY_TEST_TOKEN' } }], profile: 'read-only' },
            ],
          },
        },
      ],
    });
  });
  after(async () => {
    await mux?.stop();
    await qemu?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Connect, negotiate and run commands; returns the parsed replies after the greeting. */
  const session = async (opts: { headers?: Record<string, string>; protocols?: string[] }, commands: string[]) => {
    const c = await WsClient.connect(mux.ws, { protocols: ['qmp.json'], ...opts, ...(opts.protocols ? { protocols: ['qmp.json', ...opts.protocols] } : {}) });
    await c.count(1);
    const greeting = JSON.parse(c.texts[0]!);
    if (!('QMP' in greeting)) {
      await c.closing();
      return { refused: greeting, replies: [] };
    }
    c.send('{"execute":"qmp_capabilities"}');
    for (const [i, cmd] of commands.entries()) c.send(JSON.stringify({ execute: cmd, id: i }));
    const replies = () => c.texts.slice(2).map((t) => JSON.parse(t)).filter((m) => !('event' in m));
    await c.until(() => replies().length >= commands.length, 10_000, 'replies');
    c.close();
    return { refused: undefined, replies: replies() };
  };

  it('a token from a file names its principal (Authorization header)', async () => {
    const r = await session({ headers: { Authorization: `Bearer ${FILE_TOKEN}` } }, ['__org.qmpmux_query-principal', 'stop', 'cont', 'quit']);
    assert.deepEqual(r.replies, [
      { return: { principal: 'agent' }, id: 0 },
      { return: {}, id: 1 },
      { return: {}, id: 2 },
      { id: 3, error: { class: 'GenericError', desc: "qmpmux: command 'quit' is not permitted for principal 'agent'" } },
    ]);
  });

  it('a token from the environment names its principal (browser subprotocol entry)', async () => {
    const r = await session({ protocols: [encodeTokenEntry(ENV_TOKEN)] }, ['__org.qmpmux_query-principal', 'stop']);
    assert.deepEqual(r.replies, [
      { return: { principal: 'robot' }, id: 0 },
      { id: 1, error: { class: 'GenericError', desc: "qmpmux: command 'stop' is not permitted for principal 'robot'" } },
    ]);
  });

  it('a wrong token, or none, is refused before the greeting; the token is never echoed', async () => {
    for (const headers of [{ Authorization: `Bearer ${FILE_TOKEN}x` }, { Authorization: `Bearer ${FILE_TOKEN.slice(0, -1)}` }, undefined]) {
      const r = await session({ headers }, []);
      assert.ok(r.refused, `refused with ${JSON.stringify(headers)}`);
      assert.match(r.refused.error.desc, /^qmpmux: connection refused: no principal matches this connection \(ws peer [^,]+, (a token that matches no principal|no token)\)$/);
      assert.ok(!JSON.stringify(r.refused).includes('token-'), 'no token in the refusal');
    }
  });
});

describe('policy for virtual clients (ProxyApi.openVirtualClient)', () => {
  const options = (principals: object[]) => ({ principals, unmatched: { principal: 'anyone' } });
  const base = [
    { name: 'fleet', match: [{ uid: 4242424 }], profile: 'read-only' },
    { name: 'anyone', match: [{ uid: 4242425 }], profile: 'full' },
  ];
  const { mux } = useProxy({ plugins: [{ definition: policyPlugin, options: options(base) }] });
  const ask = async (v: { request(b: Buffer): Promise<Buffer> }, s: string) => JSON.parse((await v.request(Buffer.from(s))).toString());

  it('is the principal it was opened as: its rules apply, with the policy error for what it may not run', async () => {
    const v = mux.proxy.openVirtualClient({ principal: 'fleet', via: 'nats' });
    assert.equal((await ask(v, '{"execute":"query-status","id":1}')).return.status, 'running');
    assert.deepEqual(await ask(v, '{"execute":"stop","id":2}'), { id: 2, error: { class: 'GenericError', desc: "qmpmux: command 'stop' is not permitted for principal 'fleet'" } });
    assert.deepEqual((await ask(v, '{"execute":"__org.qmpmux_query-principal"}')).return, { principal: 'fleet' });
    v.close();
  });

  it('a principal the policy does not name is refused (no unmatched fallback for a declared identity)', async () => {
    const v = mux.proxy.openVirtualClient({ principal: 'stranger', via: 'nats' });
    assert.deepEqual(await ask(v, '{"execute":"query-status","id":"x"}'), {
      id: 'x',
      error: { class: 'GenericError', desc: "qmpmux: connection refused: no principal matches this connection (virtual client via nats as principal 'stranger')" },
    });
    await v.closed;
  });

  it('a network client cannot become a virtual principal: matching is by its own peer, the fallback applies', async () => {
    const c = await QmpClient.connect(mux.unix);
    assert.deepEqual(await c.execute('__org.qmpmux_query-principal' as never), { principal: 'anyone' });
    c.close();
  });

  it('a reload that removes its principal leaves it without one: every command refused', async () => {
    const v = mux.proxy.openVirtualClient({ principal: 'fleet', via: 'nats' });
    assert.equal((await ask(v, '{"execute":"query-name"}')).return !== undefined, true);
    await mux.proxy.reload([{ definition: policyPlugin, options: options([base[1]!]) }]);
    assert.match((await ask(v, '{"execute":"query-name"}')).error.desc, /matches no principal since the configuration was reloaded/);
    await mux.proxy.reload([{ definition: policyPlugin, options: options(base) }]);
    v.close();
  });
});
