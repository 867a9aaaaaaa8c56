/**
 * The plugin with a creds file (NATS decentralized JWT authentication): a real nats-server in operator
 * mode, its operator, accounts and users made at test time (e2e's nats-jwt.ts), real QEMU.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { ConfigError } from '@qmpmux/core';
import { makeNatsOperator, startNats, useQemu, useTempDir, type TestNats } from '@qmpmux/e2e';
import { auditPlugin } from './audit-helpers.ts';
import { allOnNats, natsClient, natsStats, refusedButServing, startMux, togglePairs, until, type Mux } from './helpers.ts';

const dir = useTempDir('qmpmux-nats-creds-');
const qemu = useQemu();
const operator = makeNatsOperator();
const file = (name: string, text: string) => (writeFileSync(join(dir, name), text, { mode: 0o600 }), join(dir, name));
const creds = file('qmpmux.creds', operator.userCreds('qmpmux'));
// A user of an account of another operator: a well-formed creds file the server does not trust.
const stranger = file('stranger.creds', makeNatsOperator('elsewhere').userCreds('qmpmux'));

describe('NATS with a creds file (operator mode, JWT authentication)', () => {
  let nats: TestNats;
  let nc: NatsConnection;
  let m: Mux | undefined;
  before(async () => {
    nats = await startNats({ config: operator.serverConfig });
    nc = await natsClient(nats.url, { authenticator: credsAuthenticator(Buffer.from(operator.userCreds('test'))) });
  });
  after(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('events, inventory and gateway, and audit records from the shipping thread, as a user of the account', async () => {
    const log = join(dir, 'audit.log');
    m = await startMux({ servers: [nats.url], credsFile: creds, gatewayPrincipal: 'fleet', audit: { path: log } }, { qemu, before: [auditPlugin(log)] });
    try {
      await allOnNats(m, nc, log);
    } finally {
      await m.stop();
    }
  });

  it('a user the server does not trust: refused (authorization), retried, local clients served', async () => {
    m = await startMux({ servers: [nats.url], credsFile: stranger }, { vm: 'vm2', qemu });
    try {
      await refusedButServing(m, /Authorization Violation: the server refused the credentials/);
    } finally {
      await m.stop();
    }
  });

  it("an account without JetStream: connected, the gateway answers, events are held and the warning says why", async () => {
    const noJs = makeNatsOperator('no-jetstream', { jetstream: false });
    const server = await startNats({ config: noJs.serverConfig });
    m = await startMux({ servers: [server.url], credsFile: file('no-js.creds', noJs.userCreds('qmpmux')), gatewayPrincipal: 'fleet' }, { qemu });
    const own = await natsClient(server.url, { authenticator: credsAuthenticator(Buffer.from(noJs.userCreds('test'))) });
    try {
      await until(() => m!.lines.some((l) => l.level === 'warn' && /QMPMUX_EVENTS: JetStream not enabled for account/.test(l.msg)), 'the warning');
      const reply = await own.request('qmpmux.vm1.qmp', Buffer.from('{"execute":"query-status"}'), { timeout: 5000 });
      assert.match(Buffer.from(reply.data).toString(), /"status": "running"/);
      await togglePairs(m.mux.unix, 1);
      assert.deepEqual(await natsStats(m.mux.unix).then((s) => [s.state, s.pending, s.published]), ['connected', 2, 0]);
    } finally {
      await own.close();
      await m.stop();
      await server.stop();
    }
  });

  it('a missing creds file, or one without its seed: a configuration error naming credsFile; nothing starts', async () => {
    const jwtOnly = file('jwt-only.creds', operator.userCreds('x').split('\n\n')[0]!);
    for (const [credsFile, problem] of [
      [join(dir, 'missing.creds'), /cannot read .*missing\.creds: ENOENT/],
      [jwtOnly, /jwt-only\.creds is not a NATS creds file \(no user nkey seed\)/],
    ] as const) {
      await assert.rejects(startMux({ servers: [nats.url], credsFile }, { qemu }), (e: unknown) => e instanceof ConfigError && /credsFile$/.test(e.path) && problem.test(e.problem));
    }
  });
});
