/**
 * The plugin on a NATS server with TLS: the server's certificate checked against the configured CA,
 * a client certificate where the server requires one; each refusal a clear warning, retried, local
 * clients unaffected. Real nats-server (certificates made with openssl at test time), real QEMU.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { makeTestCa, startNats, useTempDir, type TestNats } from '@qmpmux/e2e';
import { auditPlugin } from './audit-helpers.ts';
import { allOnNats, natsClient, refusedButServing, startMux, streamCount, togglePairs, until, type Mux } from './helpers.ts';

const dir = useTempDir('qmpmux-nats-tls-');
const ca = makeTestCa(join(dir, 'ca'));
const client = ca.issue('client', { subject: '/CN=qmpmux' });
const other = makeTestCa(join(dir, 'other'), '/CN=another CA');
const rogue = other.issue('rogue', { subject: '/CN=qmpmux' });

describe('NATS over TLS', () => {
  let nats: TestNats | undefined;
  let nc: NatsConnection | undefined;
  let m: Mux | undefined;
  afterEach(async () => {
    await m?.stop();
    await nc?.close();
    await nats?.stop();
    m = nc = nats = undefined;
  });

  it('events, inventory and gateway over TLS, trusting the configured CA', async () => {
    nats = await startNats({ tls: { ca } });
    nc = await natsClient(nats.url, { tls: { caFile: ca.cert } });
    m = await startMux({ servers: [nats.url], tls: { ca: ca.cert }, gatewayPrincipal: 'fleet' });
    await allOnNats(m, nc);
  });

  it("a CA that did not sign the server's certificate: refused, retried, local clients served", async () => {
    nats = await startNats({ tls: { ca } });
    m = await startMux({ servers: [nats.url], tls: { ca: other.cert } });
    await refusedButServing(m, /the server's TLS certificate is not trusted \(.*\): the CA of tls\.ca did not sign it/);
  });

  it('a tls:// URL requires TLS: a server without it is refused', async () => {
    nats = await startNats();
    m = await startMux({ servers: [`tls://127.0.0.1:${nats.port}`] });
    await refusedButServing(m, /the server does not offer TLS, which a tls:\/\/ URL asks for/);
  });

  describe('a server that requires client certificates', () => {
    it('connects with its client certificate: events, inventory, gateway, and audit records from the shipping thread', async () => {
      nats = await startNats({ tls: { ca, verify: true } });
      nc = await natsClient(nats.url, { tls: { caFile: ca.cert, certFile: client.cert, keyFile: client.key } });
      const log = join(dir, 'audit.log');
      m = await startMux({ servers: [nats.url], tls: { ca: ca.cert, ...client }, gatewayPrincipal: 'fleet', audit: { path: log } }, { before: [auditPlugin(log)] });
      await allOnNats(m, nc, log);
      // After a restart of the server the client library reconnects (TLS handshake and all) by itself.
      await nats.restart();
      await togglePairs(m.mux.unix, 1);
      await until(async () => (await streamCount(nc!, 'QMPMUX_EVENTS')) === 4, 'the events after the restart');
      assert.ok(m.lines.some((l) => /^reconnected to NATS/.test(l.msg)));
      assert.ok(!m.lines.some((l) => /gave up/.test(l.msg)));
    });

    it('without a client certificate: refused, retried, local clients served', async () => {
      nats = await startNats({ tls: { ca, verify: true } });
      m = await startMux({ servers: [nats.url], tls: { ca: ca.cert } });
      await refusedButServing(m, /(it|does it) require(s)? a client certificate \(tls\.cert\)/);
    });

    it('with a client certificate of another CA: refused, retried, local clients served', async () => {
      nats = await startNats({ tls: { ca, verify: true } });
      m = await startMux({ servers: [nats.url], tls: { ca: ca.cert, ...rogue } });
      await refusedButServing(m, /(it does not accept|does it accept) the client certificate tls\.cert/);
    });
  });
});
