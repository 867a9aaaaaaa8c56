/** Principals and command rules without QEMU: option validation, matching, decisions, the hooks with fake peers. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, NO_METRICS, createLogger, type ClientInfo, type Peer, type Plugin, type PluginContext, type ProxyApi } from '@qmpmux/core';
import { decide, glob, parsePolicyOptions, policyPlugin, resolvePrincipal, subjectAttributes, type CommandRules } from '../src/index.ts';

const rules = (r: Partial<CommandRules>): CommandRules => ({ profile: undefined, allow: [], deny: [], ...r });
const unix = (uid: number, gid: number): Peer => ({ transport: 'unix', address: '/x.sock', pid: 1, uid, gid });
const cert = (subject: string, san: string[] = [], fingerprint256 = 'AA:BB'): Peer => ({ transport: 'tls', address: '127.0.0.1:1', certificate: { subject, subjectAltNames: san, fingerprint256 } });
const bad = (options: unknown, path: string, re: RegExp) =>
  assert.throws(
    () => parsePolicyOptions(options, 'p'),
    (e: unknown) => e instanceof ConfigError && e.path === path && re.test(e.problem),
    `expected ConfigError at ${path}`,
  );

describe('command rules', () => {
  it('globs match whole names, * and ? only', () => {
    assert.ok(glob('query-*').re.test('query-status'));
    assert.ok(!glob('query-*').re.test('x-query-status'));
    assert.ok(glob('block?resize').re.test('block_resize'));
    assert.ok(!glob('a.b').re.test('aXb'), 'a dot is literal');
  });

  it('read-only permits queries and introspection, not control, HMP, qom-get or host-file writers', () => {
    const r = rules({ profile: 'read-only' });
    for (const c of ['query-status', 'query-commands', 'x-query-roms', 'qom-list', 'qmp_capabilities', '__org.qmpmux_query-clients']) assert.ok(decide(r, c).permitted, c);
    for (const c of ['stop', 'cont', 'quit', 'human-monitor-command', 'qom-get', 'ringbuf-read', 'screendump', 'device_add', 'add_client', 'getfd']) assert.ok(!decide(r, c).permitted, c);
  });

  it('vm-control adds the run state and input, not quit or configuration', () => {
    const r = rules({ profile: 'vm-control' });
    for (const c of ['stop', 'cont', 'system_reset', 'system_powerdown', 'send-key', 'query-status']) assert.ok(decide(r, c).permitted, c);
    for (const c of ['quit', 'device_add', 'migrate', 'human-monitor-command']) assert.ok(!decide(r, c).permitted, c);
  });

  it('deny wins over allow, allow over the profile; nothing is permitted by default', () => {
    assert.deepEqual(decide(rules({ profile: 'full', deny: [glob('quit')] }), 'quit'), { permitted: false, why: "deny 'quit'" });
    assert.deepEqual(decide(rules({ allow: [glob('stop')], deny: [glob('st*')] }), 'stop'), { permitted: false, why: "deny 'st*'" });
    assert.deepEqual(decide(rules({ profile: 'read-only', allow: [glob('device_*')] }), 'device_add'), { permitted: true, why: "allow 'device_*'" });
    assert.equal(decide(rules({}), 'query-status').permitted, false);
    assert.equal(decide(rules({ deny: [glob('*')] }), 'qmp_capabilities').permitted, true, 'qmp_capabilities is always permitted');
  });
});

describe('principals', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'qmpmux-policy-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('matches unix peers by uid, gid, user name and group name', () => {
    const o = parsePolicyOptions(
      {
        principals: [
          { name: 'by-user', match: [{ user: 'root' }] },
          { name: 'by-uid', match: [{ uid: 4242 }] },
          { name: 'by-gid', match: [{ gid: 4343 }] },
          { name: 'by-group', match: [{ group: 'root' }] },
        ],
      },
      'p',
    );
    assert.equal(resolvePrincipal(o, unix(0, 0))?.principal, 'by-user');
    assert.equal(resolvePrincipal(o, unix(4242, 1))?.principal, 'by-uid');
    assert.equal(resolvePrincipal(o, unix(1, 4343))?.principal, 'by-gid');
    assert.equal(resolvePrincipal(o, unix(5000, 0))?.principal, 'by-group', 'the group by the peer gid');
    assert.equal(resolvePrincipal(o, unix(5000, 5000)), undefined);
    assert.equal(resolvePrincipal(o, { transport: 'tcp', address: '127.0.0.1:5' }), undefined, 'unix criteria never match other transports');
  });

  it('unknown user and group names fail at load, naming the field', () => {
    bad({ principals: [{ name: 'a', match: [{ user: 'no-such-user-qmpmux' }] }] }, 'p.principals[0].match[0].user', /no user named/);
    bad({ principals: [{ name: 'a', match: [{}, { group: 'no-such-group-qmpmux' }] }] }, 'p.principals[0].match[0]', /at least one of/);
    bad({ principals: [{ name: 'a', match: [{ group: 'no-such-group-qmpmux' }] }] }, 'p.principals[0].match[0].group', /no group named/);
  });

  it('matches TLS peers by CN, SAN, subject and fingerprint, and never without a verified certificate', () => {
    const fp = 'ab:'.repeat(31) + 'ab';
    const o = parsePolicyOptions(
      {
        principals: [
          { name: 'cn', match: [{ cn: 'ops, the client' }] },
          { name: 'san-typed', match: [{ san: 'URI:spiffe://example/ops' }] },
          { name: 'san-ip', match: [{ san: 'IP:10.0.0.1' }] },
          { name: 'san-bare', match: [{ san: 'viewer.example' }] },
          { name: 'subject', match: [{ subject: 'O=Example,CN=exact' }] },
          { name: 'fp', match: [{ fingerprint256: fp.toUpperCase().replace(/:/g, '') }] },
        ],
      },
      'p',
    );
    assert.equal(resolvePrincipal(o, cert('O=Example,CN=ops\\, the client'))?.principal, 'cn');
    assert.equal(resolvePrincipal(o, cert('CN=other', ['DNS:x', 'URI:spiffe://example/ops']))?.principal, 'san-typed');
    assert.equal(resolvePrincipal(o, cert('CN=other', ['IP Address:10.0.0.1']))?.principal, 'san-ip');
    assert.equal(resolvePrincipal(o, cert('CN=other', ['DNS:viewer.example']))?.principal, 'san-bare');
    assert.equal(resolvePrincipal(o, cert('CN=other', ['URI:DNS:viewer.example'])), undefined, 'a bare SAN value matches whole values only');
    assert.equal(resolvePrincipal(o, cert('O=Example,CN=exact'))?.principal, 'subject');
    assert.equal(resolvePrincipal(o, cert('CN=exact,O=Example')), undefined, 'subject is compared whole');
    assert.equal(resolvePrincipal(o, cert('CN=z', [], fp))?.principal, 'fp', 'fingerprint ignores colons and case');
    assert.equal(resolvePrincipal(o, { transport: 'tls', address: 'x' }), undefined, 'no certificate, no match');
  });

  it('reads CN values with RFC 4514 escapes and multi-valued RDNs', () => {
    assert.deepEqual(subjectAttributes('O=A\\, B,CN=x+CN=y\\2Bz,cn=\\C3\\A9', 'CN'), ['x', 'y+z', 'é']);
  });

  it('tokens come from a file or the environment, are compared whole, and are never weak or shared', () => {
    const file = join(dir, 'agent.token');
    writeFileSync(file, 'file-secret-0123456789\n');
    chmodSync(file, 0o600);
    process.env.QMPMUX_TEST_TOKEN = 'env-secret-abcdefghij';
    const o = parsePolicyOptions(
      {
        principals: [
          { name: 'agent', match: [{ token: { file } }] },
          { name: 'robot', match: [{ token: { env: 'QMPMUX_TEST_TOKEN' } }] },
        ],
      },
      'p',
    );
    assert.deepEqual(o.warnings, []);
    const ws = (token?: string): Peer => ({ transport: 'ws', address: '127.0.0.1:9', token });
    assert.equal(resolvePrincipal(o, ws('file-secret-0123456789'))?.principal, 'agent', 'trailing newline of the file is not part of the token');
    assert.equal(resolvePrincipal(o, ws('env-secret-abcdefghij'))?.principal, 'robot');
    assert.equal(resolvePrincipal(o, ws('file-secret-012345678')), undefined, 'a prefix is not the token');
    assert.equal(resolvePrincipal(o, ws('file-secret-0123456789x')), undefined);
    assert.equal(resolvePrincipal(o, ws(undefined)), undefined);
    assert.equal(resolvePrincipal(o, { transport: 'unix', address: 'x', uid: 0, gid: 0 }), undefined);
    assert.ok(!JSON.stringify(o, (_k, v) => (v instanceof RegExp ? String(v) : v)).includes('secret'), 'the secret is not kept in the options');

    chmodSync(file, 0o644);
    assert.match(parsePolicyOptions({ principals: [{ name: 'a', match: [{ token: { file } }] }] }, 'p').warnings[0]!, /can be read by others/);
    writeFileSync(join(dir, 'short'), 'short');
    bad({ principals: [{ name: 'a', match: [{ token: { file: join(dir, 'short') } }] }] }, 'p.principals[0].match[0].token', /shorter than 16/);
    bad({ principals: [{ name: 'a', match: [{ token: { file: join(dir, 'missing') } }] }] }, 'p.principals[0].match[0].token.file', /cannot read/);
    bad({ principals: [{ name: 'a', match: [{ token: { env: 'QMPMUX_TEST_UNSET_VAR' } }] }] }, 'p.principals[0].match[0].token.env', /not set/);
    bad({ principals: [{ name: 'a', match: [{ token: { file, env: 'X' } }] }] }, 'p.principals[0].match[0].token', /exactly one/);
    bad({ principals: [{ name: 'a', match: [{ token: 'inline-secret-1234567' }] }] }, 'p.principals[0].match[0].token', /expected an object/);
    process.env.QMPMUX_TEST_TOKEN2 = 'file-secret-0123456789';
    bad(
      { principals: [{ name: 'a', match: [{ token: { file } }] }, { name: 'b', match: [{ token: { env: 'QMPMUX_TEST_TOKEN2' } }] }] },
      'p.principals[1].match[0].token',
      /same token as p.principals\[0\]/,
    );
  });

  it('an entry needs all its criteria; principals are tried in order', () => {
    const o = parsePolicyOptions(
      {
        principals: [
          { name: 'both', match: [{ cn: 'a', san: 'DNS:b' }] },
          { name: 'first', match: [{ cn: 'a' }] },
          { name: 'second', match: [{ cn: 'a' }] },
        ],
      },
      'p',
    );
    assert.equal(resolvePrincipal(o, cert('CN=a', ['DNS:b']))?.principal, 'both');
    assert.equal(resolvePrincipal(o, cert('CN=a'))?.principal, 'first');
  });

  it('rejects bad options with the path of the bad field', () => {
    bad({}, 'p.principals', /at least one principal/);
    bad({ principals: [{ name: 'a b' }] }, 'p.principals[0].name', /letters/);
    bad({ principals: [{ name: 'a' }, { name: 'a' }] }, 'p.principals[1].name', /duplicate/);
    bad({ principals: [{ name: 'a', profile: 'admin' }] }, 'p.principals[0].profile', /read-only, vm-control, full/);
    bad({ principals: [{ name: 'a', allow: [''] }] }, 'p.principals[0].allow[0]', /non-empty/);
    bad({ principals: [{ name: 'a', match: [{ uid: 0, cn: 'x' }] }] }, 'p.principals[0].match[0]', /could never match/);
    bad({ principals: [{ name: 'a', match: [{ host: 'x' }] }] }, 'p.principals[0].match[0].host', /unknown field/);
    bad({ principals: [{ name: 'a', match: [{ fingerprint256: 'AB:CD' }] }] }, 'p.principals[0].match[0].fingerprint256', /32 hex bytes/);
    bad({ principals: [{ name: 'a' }], unmatched: 'read-only' }, 'p.unmatched', /"refuse"/);
    bad({ principals: [{ name: 'a' }], unmatched: { principal: 'b' } }, 'p.unmatched.principal', /no principal named 'b'/);
  });

  it('warns when HMP is allowed short of the full profile', () => {
    const o = parsePolicyOptions({ principals: [{ name: 'a', profile: 'read-only', allow: ['human-*'] }] }, 'p');
    assert.match(o.warnings[0]!, /human-monitor-command/);
  });
});

describe('the hooks, with fake connections', () => {
  const fakeClient = (id: number, peer: Peer): ClientInfo => ({
    id,
    peer,
    connectedAt: new Date(),
    principal: undefined,
    attributes: new Map(),
    negotiated: true,
    oob: false,
    stats: { commands: 0, events: 0 },
  });
  const clients = new Map<number, ClientInfo>();
  const ctx = {
    name: 'policy',
    vm: 'default',
    log: createLogger('test', 'silent'),
    commandPrefix: '__org.qmpmux_',
    metrics: NO_METRICS,
    proxy: { clients, ownCommands: ['__org.qmpmux_query-principal', '__org.qmpmux_query-clients'] } as unknown as ProxyApi,
  } satisfies PluginContext;
  const command = (client: ClientInfo, name: string) => ({ client, command: name, arguments: undefined, oob: false, idText: '1', fds: [], receivedAt: 0n, state: new Map() });

  it('a WebSocket token picks the principal; an unknown token is refused before the greeting', async () => {
    process.env.QMPMUX_TEST_TOKEN3 = 'agent-token-0123456789';
    const p = (await policyPlugin.create(
      policyPlugin.validate({ principals: [{ name: 'agent', match: [{ token: { env: 'QMPMUX_TEST_TOKEN3' } }], profile: 'read-only' }] }, 'p'),
      ctx,
    )) as Plugin;
    const good = fakeClient(1, { transport: 'ws', address: 'a', token: 'agent-token-0123456789' });
    assert.equal(await p.onClientConnect!(good), undefined);
    assert.equal(good.principal, 'agent');
    const wrong = fakeClient(2, { transport: 'ws', address: 'a', token: 'agent-token-0123456780' });
    assert.deepEqual(await p.onClientConnect!(wrong), { action: 'refuse', reason: 'no principal matches this connection (ws peer a, a token that matches no principal)' });
    assert.equal(wrong.principal, undefined);
    assert.deepEqual(await p.onCommand!(command(good, 'stop')), { action: 'error', class: 'GenericError', code: 'NOT_PERMITTED', desc: "qmpmux: command 'stop' is not permitted for principal 'agent'" });
    assert.equal(await p.onCommand!(command(good, 'query-status')), undefined);
    assert.equal(await p.onCommand!(command(good, '__org.qmpmux_query-principal')), undefined, 'permitted: on to the core, which runs it');
    assert.deepEqual(await p.commands![0]!.run({}, command(good, '__org.qmpmux_query-principal')), { action: 'reply', return: { principal: 'agent' } });
  });

  it('query-commands keeps what the principal may run and adds the permitted qmpmux commands', async () => {
    const p = (await policyPlugin.create(policyPlugin.validate({ principals: [{ name: 'v', match: [{ uid: 7 }], profile: 'read-only', deny: ['query-clients-nope', '__org.qmpmux_query-clients'] }] }, 'p'), ctx)) as Plugin;
    const c = fakeClient(3, unix(7, 7));
    await p.onClientConnect!(c);
    const ret = [{ name: 'query-status' }, { name: 'stop' }, { name: 'qmp_capabilities' }, { name: 'query-commands' }];
    const v = await p.onReply!({ command: command(c, 'query-commands'), source: 'qemu', executed: 'query-commands', result: () => ({ return: ret }), memo: (_k, f) => f() });
    assert.deepEqual(v, { action: 'replace', return: [{ name: 'query-status' }, { name: 'qmp_capabilities' }, { name: 'query-commands' }, { name: '__org.qmpmux_query-principal' }] });
    const err = await p.onReply!({ command: command(c, 'query-commands'), source: 'qemu', executed: 'query-commands', result: () => ({ error: { class: 'GenericError', desc: 'x' } }), memo: (_k, f) => f() });
    assert.equal(err, undefined, 'errors pass untouched');
  });

  it('reconfigure maps connected clients again; one that matches nothing any more is refused every command', async () => {
    const p = (await policyPlugin.create(policyPlugin.validate({ principals: [{ name: 'a', match: [{ uid: 10 }], profile: 'read-only' }] }, 'p'), ctx)) as Plugin;
    const c10 = fakeClient(10, unix(10, 10));
    const c11 = fakeClient(11, unix(11, 11));
    clients.set(10, c10);
    await p.onClientConnect!(c10);
    assert.deepEqual(await p.onClientConnect!(c11), { action: 'refuse', reason: 'no principal matches this connection (unix peer uid 11 gid 11)' });
    await p.reconfigure!(policyPlugin.validate({ principals: [{ name: 'b', match: [{ uid: 11 }], profile: 'full' }] }, 'p'));
    assert.equal(c10.principal, undefined);
    assert.deepEqual(await p.onCommand!(command(c10, 'query-status')), {
      action: 'error',
      class: 'GenericError',
      code: 'NO_PRINCIPAL_SINCE_RELOAD',
      desc: "qmpmux: command 'query-status' refused: this connection matches no principal since the configuration was reloaded",
    });
    await p.reconfigure!(policyPlugin.validate({ principals: [{ name: 'c', match: [{ uid: 10 }], profile: 'vm-control' }] }, 'p'));
    assert.equal(c10.principal, 'c');
    assert.equal(await p.onCommand!(command(c10, 'stop')), undefined);
    clients.clear();
  });

  it('an unmatched connection may be mapped to a fallback principal instead', async () => {
    const p = (await policyPlugin.create(
      policyPlugin.validate({ principals: [{ name: 'ops', match: [{ uid: 0 }], profile: 'full' }, { name: 'guest', profile: 'read-only' }], unmatched: { principal: 'guest' } }, 'p'),
      ctx,
    )) as Plugin;
    const c = fakeClient(20, { transport: 'tcp', address: '127.0.0.1:4' });
    assert.equal(await p.onClientConnect!(c), undefined);
    assert.equal(c.principal, 'guest');
  });
});

describe('the policy plugin and non-loopback listeners', () => {
  const principals = [{ name: 'ops', match: [{ uid: 0 }], profile: 'full' }];
  it('identifies every client without an unmatched fallback, and nobody with one', () => {
    assert.equal(policyPlugin.authenticates!(policyPlugin.validate({ principals }, 'p')), true);
    assert.equal(policyPlugin.authenticates!(policyPlugin.validate({ principals, unmatched: { principal: 'ops' } }, 'p')), false);
  });
});
