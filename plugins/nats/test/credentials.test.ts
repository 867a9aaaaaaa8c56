/** Connecting to a NATS server that requires credentials: user/password, token; a wrong one. Real nats-server. (Creds files: creds-file.test.ts; TLS: tls.test.ts.) */
import { after, afterEach, describe, it } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNats, type TestNats } from '@qmpmux/e2e';
import { refusedButServing, startMux, streamCount, togglePairs, until, type Mux } from './helpers.ts';

describe('NATS credentials', () => {
  let nats: TestNats | undefined;
  let nc: NatsConnection | undefined;
  let m: Mux | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'qmpmux-nats-cred-'));
  afterEach(async () => {
    await m?.stop();
    await nc?.close();
    await nats?.stop();
    m = nc = nats = undefined;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('user and password (from a file)', async () => {
    nats = await startNats({ args: ['--user', 'qm', '--pass', 'pw-0123456789abcdef'] });
    nc = await connect({ servers: nats.url, user: 'qm', pass: 'pw-0123456789abcdef' });
    const file = join(dir, 'pass');
    writeFileSync(file, 'pw-0123456789abcdef\n', { mode: 0o600 });
    m = await startMux({ servers: [nats.url], user: 'qm', password: { file } });
    await togglePairs(m.mux.unix, 1);
    await until(async () => (await streamCount(nc!, 'QMPMUX_EVENTS')) === 2, 'the events');
  });

  it('a token (from the environment)', async () => {
    nats = await startNats({ args: ['--auth', 'tok-0123456789abcdef'] });
    nc = await connect({ servers: nats.url, token: 'tok-0123456789abcdef' });
    process.env.QMPMUX_TEST_NATS_TOKEN = 'tok-0123456789abcdef';
    m = await startMux({ servers: [nats.url], token: { env: 'QMPMUX_TEST_NATS_TOKEN' } });
    await togglePairs(m.mux.unix, 1);
    await until(async () => (await streamCount(nc!, 'QMPMUX_EVENTS')) === 2, 'the events');
  });

  it('a wrong password: refused by the server, retried in the background, local clients served as usual', async () => {
    nats = await startNats({ args: ['--user', 'qm', '--pass', 'pw-0123456789abcdef'] });
    process.env.QMPMUX_TEST_NATS_PASSWORD = 'wrong-password-0000';
    m = await startMux({ servers: [nats.url], user: 'qm', password: { env: 'QMPMUX_TEST_NATS_PASSWORD' } });
    await refusedButServing(m, /Authorization Violation: the server refused the credentials/);
  });
});
