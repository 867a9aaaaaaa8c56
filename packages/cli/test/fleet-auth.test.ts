/**
 * `qmpmux fleet` against secured NATS servers: TLS with client certificates required (--tls-ca,
 * --tls-cert, --tls-key) and operator mode (--creds FILE). Real nats-server, QEMU and qmpmux with the
 * nats plugin; the CLI runs as a process.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QmpClient } from '@qmpmux/client';
import { createLogger } from '@qmpmux/core';
import { makeNatsOperator, makeTestCa, runQmpmux, startNats, startProxy, until, useQemu, useTempDir, type TestNats, type TestProxy } from '@qmpmux/e2e';
import { natsPlugin } from '@qmpmux/plugin-nats';
import { hmpAuditPlugin } from '@qmpmux/plugin-hmp-audit';

const run = (...args: string[]) => runQmpmux(args);
const dir = useTempDir('qmpmux-fleet-auth-');
const qemu = useQemu();

/**
 * qmpmux serving VM `vm` with the nats plugin (`options`), and one STOP/RESUME pair from a local client;
 * with `auditLog`, hmp-audit writes there, the plugin ships it, and the client sends one HMP command.
 */
async function serveVm(vm: string, options: Record<string, unknown>, auditLog?: string): Promise<TestProxy> {
  const audit = auditLog ? [{ definition: hmpAuditPlugin, options: { path: auditLog, fsync: 'batch' } }] : [];
  const nats = { definition: natsPlugin, options: { ...options, gatewayPrincipal: 'fleet', ...(auditLog ? { audit: { path: auditLog } } : {}) } };
  const mux = await startProxy(qemu.address, { name: vm, log: createLogger('t', 'error'), plugins: [...audit, nats] });
  const c = await QmpClient.connect(mux.unix);
  await c.execute('stop');
  await c.execute('cont');
  if (auditLog) await c.execute('human-monitor-command', { 'command-line': 'info status' });
  c.close();
  return mux;
}

/** ls, events and exec through `flags`, once the VM's entry and its two events are there. */
async function fleetWorks(vm: string, flags: string[]): Promise<void> {
  await until(async () => (await run('fleet', 'ls', '--json', ...flags)).out.includes(`"vm": "${vm}"`), `${vm} listed`);
  const ls = await run('fleet', 'ls', ...flags);
  assert.equal(ls.code, 0, ls.err);
  assert.match(ls.out.split('\n')[1]!, new RegExp(`^${vm} +\\S+ +${process.pid} +\\d+\\.\\d+\\.\\d+ +unix:\\S+ +ready `));
  await until(async () => (await run('fleet', 'events', ...flags)).out.split('\n').filter(Boolean).length === 2, 'the two events');
  const events = await run('fleet', 'events', ...flags);
  assert.equal(events.code, 0, events.err);
  assert.deepEqual(events.out.trim().split('\n').map((l) => /^(\w+): .*"event": "(\w+)"/.exec(l)!.slice(1).join(' ')), [`${vm} STOP`, `${vm} RESUME`]);
  const exec = await run('fleet', 'exec', '--vm', vm, 'query-status', ...flags);
  assert.equal(exec.code, 0, exec.err);
  assert.equal(exec.out, '{"return": {"status": "running", "singlestep": false, "running": true}}\n');
}

/** One line on stderr matching `re`, and exit status `code`. */
async function fails(args: string[], code: number, re: RegExp): Promise<void> {
  const r = await run(...args);
  assert.equal(r.code, code, r.out + r.err);
  assert.equal(r.out, '');
  assert.match(r.err, re);
  assert.equal(r.err.split('\n').length, 2, r.err);
}

describe('qmpmux fleet over TLS, client certificates required', () => {
  const ca = makeTestCa(join(dir, 'ca'));
  const client = ca.issue('client', { subject: '/CN=fleet' });
  const other = makeTestCa(join(dir, 'other'), '/CN=another CA');
  let nats: TestNats;
  let mux: TestProxy;
  let url: string;
  before(async () => {
    nats = await startNats({ tls: { ca, verify: true } });
    url = nats.url;
    mux = await serveVm('tls1', { servers: [url], tls: { ca: ca.cert, ...client } }, join(dir, 'tls1-audit.log'));
  });
  after(async () => {
    await mux?.stop();
    await nats?.stop();
  });

  it('ls, events and exec with --tls-ca, --tls-cert and --tls-key (and with a tls:// URL)', async () => {
    await fleetWorks('tls1', ['--nats', url, '--tls-ca', ca.cert, '--tls-cert', client.cert, '--tls-key', client.key]);
    await fleetWorks('tls1', ['--nats', `tls://127.0.0.1:${nats.port}`, '--tls-ca', ca.cert, '--tls-cert', client.cert, '--tls-key', client.key]);
  });

  it('refused: without a client certificate, trusting another CA, or the system CAs; one line saying why, exit 1', async () => {
    await fails(['fleet', 'ls', '--nats', url, '--tls-ca', ca.cert], 1, /^qmpmux fleet: cannot connect to NATS .*: .*(it|does it) require(s)? a client certificate \(--tls-cert\)/);
    await fails(['fleet', 'ls', '--nats', url, '--tls-ca', other.cert, '--tls-cert', client.cert, '--tls-key', client.key], 1, /the server's TLS certificate is not trusted \(.*\): the CA of --tls-ca did not sign it\n$/);
    await fails(['fleet', 'exec', '--vm', 'tls1', 'query-status', '--nats', `tls://127.0.0.1:${nats.port}`], 1, /the server's TLS certificate is not trusted \(.*\): name the CA that signed it with --tls-ca\n$/);
  });

  it('audit verify --nats with the same flags: the audit records the plugin shipped over TLS, read back and verified', async () => {
    const flags = ['--nats', url, '--tls-ca', ca.cert, '--tls-cert', client.cert, '--tls-key', client.key];
    // The local log's records and head: the stream's must be the same once shipped.
    const local = await run('audit', 'verify', join(dir, 'tls1-audit.log'));
    const [, n, head] = /^ok: (\d+) record\(s\), seq 1\.\.\d+ in 1 file\(s\), chain sha256, head ([0-9a-f]{64})\n$/.exec(local.out) ?? assert.fail(local.out + local.err);
    const expected = `ok: ${n} record(s), seq 1..${n} in stream QMPMUX_AUDIT (qmpmux.tls1.audit), chain sha256, head ${head}\n`;
    await until(async () => (await run('audit', 'verify', '--vm', 'tls1', ...flags)).out === expected, 'the records shipped');
    await fails(['audit', 'verify', '--vm', 'tls1', '--nats', url, '--tls-ca', ca.cert], 1, /^qmpmux audit: cannot connect to NATS .*: .*(it|does it) require(s)? a client certificate \(--tls-cert\)/);
    await fails(['audit', 'verify', '--vm', 'tls1', '--nats', url, '--tls-cert', client.cert], 2, /^qmpmux audit: --tls-key: cert and key go together: a client certificate and its key \(qmpmux audit --help\)\n$/);
    await fails(['audit', 'verify', '--tls-ca', ca.cert, join(dir, 'tls1-audit.log')], 2, /^qmpmux audit: --tls-ca goes with --nats \(qmpmux audit --help\)\n$/);
  });

  it('bad TLS flags: exit 2 naming the flag', async () => {
    await fails(['fleet', 'ls', '--nats', url, '--tls-cert', client.cert], 2, /^qmpmux fleet: --tls-key: cert and key go together: a client certificate and its key \(qmpmux fleet --help\)\n$/);
    await fails(['fleet', 'events', '--nats', url, '--tls-ca', join(dir, 'nope.pem')], 2, /^qmpmux fleet: --tls-ca: no such file: .*nope\.pem \(qmpmux fleet --help\)\n$/);
  });
});

describe('qmpmux fleet --creds, against a server in operator mode', () => {
  const operator = makeNatsOperator();
  const file = (name: string, text: string) => (writeFileSync(join(dir, name), text, { mode: 0o600 }), join(dir, name));
  const creds = file('fleet.creds', operator.userCreds('fleet'));
  let nats: TestNats;
  let mux: TestProxy;
  before(async () => {
    nats = await startNats({ config: operator.serverConfig });
    mux = await serveVm('jwt1', { servers: [nats.url], credsFile: file('qmpmux.creds', operator.userCreds('qmpmux')) });
  });
  after(async () => {
    await mux?.stop();
    await nats?.stop();
  });

  it('ls, events and exec as a user of the account', async () => {
    await fleetWorks('jwt1', ['--nats', nats.url, '--creds', creds]);
  });

  it('refused: a user the server does not trust, or no credentials; one line, exit 1', async () => {
    const stranger = file('stranger.creds', makeNatsOperator('elsewhere').userCreds('fleet'));
    await fails(['fleet', 'ls', '--nats', nats.url, '--creds', stranger], 1, /^qmpmux fleet: cannot connect to NATS .*: Authorization Violation: the server refused the credentials\n$/);
    await fails(['fleet', 'exec', '--vm', 'jwt1', 'query-status', '--nats', nats.url], 1, /Authorization Violation: the server refused the credentials\n$/);
  });

  it('audit verify --nats --creds: connects as the user (the stream has no record of jwt1); a stranger is refused', async () => {
    const r = await run('audit', 'verify', '--nats', nats.url, '--vm', 'jwt1', '--creds', creds);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.out + r.err, /no audit record of jwt1|there is no JetStream stream QMPMUX_AUDIT/);
    const stranger = file('stranger2.creds', makeNatsOperator('elsewhere').userCreds('fleet'));
    await fails(['audit', 'verify', '--nats', nats.url, '--vm', 'jwt1', '--creds', stranger], 1, /^qmpmux audit: cannot connect to NATS .*: Authorization Violation: the server refused the credentials\n$/);
  });

  it('a missing creds file, or not one: exit 2 naming --creds', async () => {
    await fails(['fleet', 'ls', '--nats', nats.url, '--creds', join(dir, 'missing.creds')], 2, /^qmpmux fleet: --creds: cannot read .*missing\.creds: ENOENT/);
    await fails(['fleet', 'ls', '--nats', nats.url, '--creds', file('not.creds', 'hello\n')], 2, /^qmpmux fleet: --creds: .*not\.creds is not a NATS creds file \(no user JWT\) \(qmpmux fleet --help\)\n$/);
  });
});
