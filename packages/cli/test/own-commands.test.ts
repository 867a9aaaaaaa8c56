/**
 * Every own command of every plugin this build has is routed by the core and listed in query-commands
 * and query-qmp-schema through qmpmux, against a real QEMU.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient } from '@qmpmux/client';
import { startProxy, startQemu, type TestProxy, type TestQemu } from '@qmpmux/e2e';
import { AVAILABLE_PLUGINS } from '../src/plugins.ts';

/** Every own command of the plugins in AVAILABLE_PLUGINS, by plugin. A plugin that adds one adds it here. */
const EXPECTED: Record<string, string[]> = {
  clients: ['__org.qmpmux_query-clients'],
  policy: ['__org.qmpmux_query-principal'],
  'add-client-auth': [],
  'hmp-audit': [],
  'event-replay': ['__org.qmpmux_replay-events', '__org.qmpmux_query-last-events'],
  fdsets: ['__org.qmpmux_query-fd-owners'],
  nats: ['__org.qmpmux_query-nats'],
};

describe('own commands of every plugin', () => {
  let qemu: TestQemu;
  let mux: TestProxy;
  let c: QmpClient;
  const dir = mkdtempSync(join(tmpdir(), 'qmpmux-own-'));
  const options: Record<string, unknown> = {
    policy: { principals: [{ name: 'root', match: [{ uid: process.getuid!() }], profile: 'full' }], unmatched: { principal: 'root' } },
    'hmp-audit': { path: join(dir, 'audit.log') },
    // No NATS server there: the plugin keeps trying in the background and answers all the same.
    nats: { servers: ['nats://127.0.0.1:1'] },
  };

  before(async () => {
    qemu = await startQemu();
    // Placement rules decide the order: policy first, fdsets before add-client-auth, nats after hmp-audit.
    const order = ['policy', 'clients', 'hmp-audit', 'event-replay', 'fdsets', 'add-client-auth', 'nats'];
    assert.deepEqual([...order].sort(), AVAILABLE_PLUGINS.map((p) => p.name).sort(), 'the test knows every plugin');
    mux = await startProxy(qemu.address, { tcp: false, plugins: order.map((n) => ({ definition: AVAILABLE_PLUGINS.find((p) => p.name === n)!, options: options[n] })) });
    c = await QmpClient.connect(mux.unix);
  });
  after(async () => {
    c?.close();
    await mux?.stop();
    await qemu?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const all = Object.values(EXPECTED).flat();

  it('the proxy knows exactly the expected own commands', () => {
    assert.deepEqual([...mux.proxy.ownCommands].sort(), [...all].sort());
  });

  it('each is in query-commands and is a command in query-qmp-schema', async () => {
    const names = new Set((await c.execute('query-commands')).map((e) => e.name));
    const schema = (await c.execute('query-qmp-schema')) as unknown as { name: string; 'meta-type': string }[];
    const commands = new Set(schema.filter((e) => e['meta-type'] === 'command').map((e) => e.name));
    for (const name of all) {
      assert.ok(names.has(name), `${name} in query-commands`);
      assert.ok(commands.has(name), `${name} in query-qmp-schema`);
    }
  });

  it('each answers, and refuses an undeclared argument with QEMU’s text', async () => {
    for (const name of all) {
      await c.execute(name as never);
      await assert.rejects(c.execute(name as never, { 'x-bogus': 1 } as never), (e: Error) => e.message.includes("Parameter 'x-bogus' is unexpected"), name);
    }
  });

  it('an undeclared __org.qmpmux_ name is CommandNotFound, as QEMU says it', async () => {
    await assert.rejects(c.execute('__org.qmpmux_x-nope' as never), (e: Error & { cls?: string }) => /The command __org.qmpmux_x-nope has not been found/.test(e.message));
  });
});
