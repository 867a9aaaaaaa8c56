/** Listeners away from loopback: refused unless clients must authenticate or the config allows it; plain TCP then warns. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, Proxy, createLogger, parseConfig, type PluginDefinition } from '../src/index.ts';

/** A plugin that says it identifies every client when its options say so (the policy plugin's case is tested there). */
const gate: PluginDefinition<{ on: boolean }> = { name: 'gate', authenticates: (o) => o.on, validate: (o) => o as { on: boolean }, create: () => ({ name: 'gate' }) };

async function warningsFor(listen: string[]): Promise<string[]> {
  const warnings: string[] = [];
  const p = await Proxy.create({ upstream: 'unix:/nonexistent/qmp.sock', listen, allowUnauthenticated: true, log: createLogger('t', 'warn', (level, _tag, msg) => level === 'warn' && warnings.push(msg)) });
  await p.start();
  await p.stop();
  return warnings.filter((w) => w.includes('plain TCP'));
}

describe('listener warnings', () => {
  it('warns for tcp on a non-loopback address, naming it', async () => {
    const w = await warningsFor(['tcp:0.0.0.0:0']);
    assert.equal(w.length, 1);
    assert.match(w[0]!, /^plain TCP on a non-loopback address \(tcp:0\.0\.0\.0:\d+\): anyone who can reach it can use the monitor, unencrypted; prefer tls:0\.0\.0\.0:0 or a unix socket$/);
  });
  it('is quiet on loopback', async () => {
    assert.deepEqual(await warningsFor(['tcp:127.0.0.1:0', 'tcp:[::1]:0']), []);
  });
});

describe('listeners on non-loopback addresses', () => {
  const create = (listen: string[], extra: Partial<Parameters<typeof Proxy.create>[0]> = {}) => Proxy.create({ upstream: 'unix:/nonexistent/qmp.sock', listen, log: createLogger('t', 'silent'), ...extra });

  it('are refused at start-up when clients need not authenticate, naming the listener and why', async () => {
    const tls = { cert: '/c.pem', key: '/k.pem' };
    for (const [addr, why] of [
      ['tcp:0.0.0.0:4445', 'plain TCP'],
      ['ws://0.0.0.0:8080/qmp', 'plain WebSocket'],
      ['tls:0.0.0.0:4446', 'TLS without required client certificates'],
      ['wss://[::]:8443/qmp', 'TLS without required client certificates'],
    ] as const) {
      await assert.rejects(create([addr], { tls }), (e: unknown) => e instanceof ConfigError && e.message.includes(addr) && e.message.includes(why) && e.message.includes('"allowUnauthenticated": true'));
    }
  });

  it('TLS and wss:// are opened when client certificates are required', async () => {
    const tls = { cert: '/c.pem', key: '/k.pem', ca: '/ca.pem', requireClientCert: true };
    assert.ok(await create(['tls:0.0.0.0:0', 'wss://0.0.0.0:0/qmp'], { tls }));
    await assert.rejects(create(['tls:0.0.0.0:0'], { tls: { ...tls, requireClientCert: false } }), /tls:0\.0\.0\.0:0 is on a non-loopback address/);
  });

  it('are opened when a plugin identifies every client, or the config allows it', async () => {
    assert.ok(await create(['tcp:0.0.0.0:0'], { plugins: [{ definition: gate, options: { on: true } }] }));
    await assert.rejects(create(['tcp:0.0.0.0:0'], { plugins: [{ definition: gate, options: { on: false } }] }), ConfigError);
    assert.ok(await create(['tcp:0.0.0.0:0'], { allowUnauthenticated: true }));
  });

  it('loopback and unix need nothing; the config has allowUnauthenticated (default false) and unixMode (default 0600)', async () => {
    assert.ok(await create(['tcp:127.0.0.1:0', 'unix:/tmp/x.sock']));
    const c = parseConfig({});
    assert.equal(c.allowUnauthenticated, false);
    assert.equal(c.unixMode, 0o600);
    assert.equal(parseConfig({ allowUnauthenticated: true, unixMode: '0660' }).unixMode, 0o660);
  });

  it('default plugins: fdsets and clients when the config names none; [] means none', () => {
    assert.deepEqual(parseConfig({}).plugins.map((p) => p.name), ['fdsets', 'clients']);
    assert.equal(parseConfig({}).defaultPlugins, true);
    assert.deepEqual(parseConfig({ plugins: [] }).plugins, []);
    assert.equal(parseConfig({ plugins: [] }).defaultPlugins, false);
  });
});
