/** The VM's entry in the QMPMUX_VMS KV bucket: present, updated on change, deleted on clean shutdown. Real QEMU and nats-server. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { QmpClient } from '@qmpmux/client';
import { startNats, type TestNats } from '@qmpmux/e2e';
import type { InventoryEntry } from '../src/index.ts';
import { natsClient, startMux, until, type Mux } from './helpers.ts';

describe('the inventory entry', () => {
  let nats: TestNats;
  let nc: NatsConnection;
  let m: Mux;
  let kv: KV;
  const entry = async (): Promise<InventoryEntry | undefined> => {
    const e = await kv.get('vm1');
    return e && e.operation === 'PUT' ? (e.json() as InventoryEntry) : undefined;
  };
  before(async () => {
    nats = await startNats();
    nc = await natsClient(nats.url);
    m = await startMux({ servers: [nats.url], ttl: 30 });
    await until(() => m.lines.some((l) => /connected to NATS/.test(l.msg)), 'connected');
    await until(async () => {
      try {
        kv = await new Kvm(nc).open('QMPMUX_VMS');
        await kv.status();
        return true;
      } catch {
        return false;
      }
    }, 'the bucket');
  });
  after(async () => {
    await m?.stop();
    await nc?.close();
    await nats?.stop();
  });

  it('holds host, pid, QEMU version, upstream, listeners and client count, in a bucket whose TTL is the ttl option', async () => {
    await until(async () => (await entry())?.upstream.state === 'ready' && (await entry())!.listeners.length === 2, 'a complete entry');
    const e = (await entry())!;
    assert.equal(e.vm, 'vm1');
    assert.equal(e.host, hostname());
    assert.equal(e.pid, process.pid);
    assert.match(e.qemuVersion!, /^\d+\.\d+\.\d+$/);
    assert.deepEqual(e.upstream, { address: m.qemu.address, state: 'ready' });
    assert.deepEqual(e.listeners, m.mux.proxy.listenerAddresses);
    assert.equal(e.clients, m.mux.proxy.clients.size);
    assert.ok(Math.abs(Date.parse(e.updatedAt) - Date.now()) < 60_000);
    assert.equal((await kv.status()).ttl, 30_000);
  });

  it('is updated when the client count changes', async () => {
    const before = (await entry())!.clients;
    const c = await QmpClient.connect(m.mux.unix);
    await until(async () => (await entry())!.clients === before + 1, 'one more client');
    c.close();
    await until(async () => (await entry())!.clients === before, 'back');
  });

  it('is updated when the upstream state changes (QEMU gone, and back)', async () => {
    await m.qemu.kill();
    await until(async () => (await entry())!.upstream.state !== 'ready', 'upstream not ready');
    await m.qemu.restart();
    await until(async () => (await entry())!.upstream.state === 'ready', 'upstream ready again');
  });

  it('is deleted on clean shutdown', async () => {
    assert.ok(await entry());
    await m.stop();
    const e = await kv.get('vm1');
    assert.ok(e === null || e.operation === 'DEL' || e.operation === 'PURGE', `deleted, got ${e?.operation}`);
    const keys: string[] = [];
    for await (const k of await kv.keys()) keys.push(k);
    assert.deepEqual(keys, []);
  });
});
