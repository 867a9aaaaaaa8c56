/**
 * Isolation between the VMs of one process, against real QEMUs: one VM's throwing plugin, event flood,
 * slow client and dead QEMU leave the other VMs' clients working, receiving nothing spurious, and
 * their QEMU links up throughout.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient, QmpError } from '@qmpmux/client';
import { definePlugin, type UpstreamState } from '@qmpmux/core';
import { RawClient, startQemu, type TestQemu } from '@qmpmux/e2e';
import { Fleet } from '../src/index.ts';
import { AVAILABLE, eventually, keptLog, settings, vm } from './helpers.ts';

/** Throws in every hook it has (on query-status only, for commands). */
const thrower = definePlugin<Record<string, never>>({
  name: 'thrower',
  validate: () => ({}),
  create: () => ({
    name: 'thrower',
    async onCommand(cmd) {
      if (cmd.command === 'query-status') throw new Error('boom');
    },
    async onEvent() {
      throw new Error('boom in onEvent');
    },
  }),
});

describe('isolation between VMs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qmpmux-isolation-'));
  const sock = (n: string) => join(dir, `${n}.sock`);
  const qemus: TestQemu[] = [];
  const { log } = keptLog();
  const fleet = new Fleet({ log, maxVms: 8 });
  const s = settings({ available: [...AVAILABLE, thrower] });
  const others: { name: string; client: QmpClient; seen: string[]; states: UpstreamState[] }[] = [];
  let noisy: QmpClient;

  before(async () => {
    for (let i = 1; i <= 3; i++) qemus.push(await startQemu({ name: `vm${i}` }));
    await fleet.sync(
      'config',
      [
        vm(0, 'vm1', qemus[0]!.address, [`unix:${sock('vm1')}`], { plugins: [{ name: 'thrower', options: {} }], limits: { maxClientOutputBytes: 4096 } }, 'config', s),
        vm(1, 'vm2', qemus[1]!.address, [`unix:${sock('vm2')}`], {}, 'config', s),
        vm(2, 'vm3', qemus[2]!.address, [`unix:${sock('vm3')}`], {}, 'config', s),
      ],
      { atomic: true },
    );
    for (const name of ['vm2', 'vm3']) {
      const client = await QmpClient.connect(`unix:${sock(name)}`);
      const o = { name, client, seen: [] as string[], states: [] as UpstreamState[] };
      client.events$.subscribe((e) => o.seen.push(e.event));
      fleet.get(name)!.proxy.upstreamState$.subscribe((st) => o.states.push(st));
      others.push(o);
    }
    noisy = await QmpClient.connect(`unix:${sock('vm1')}`);
  });
  after(async () => {
    noisy?.close();
    for (const o of others) o.client.close();
    await fleet.stop();
    for (const q of qemus) await q.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const othersWork = async () => {
    for (const o of others) assert.deepEqual(await o.client.execute('query-name'), { name: o.name }, `${o.name} answers`);
  };

  it("a throwing plugin fails its own VM's command, not another VM's", async () => {
    await assert.rejects(noisy.execute('query-status'), (e: unknown) => e instanceof QmpError && e.desc === "qmpmux: plugin 'thrower' failed in onCommand: boom");
    for (const o of others) assert.equal((await o.client.execute('query-status')).status, 'running');
  });

  it("an event flood and a slow client on one VM: the slow client is dropped, the others' clients see nothing", async () => {
    const slow = await RawClient.connect(`unix:${sock('vm1')}`);
    await slow.count(1);
    slow.send('{"execute": "qmp_capabilities"}');
    await slow.count(2);
    slow.conn.pause(); // reads nothing more
    const flood = (async () => {
      for (let i = 0; i < 2000 && !slow.closed; i++) {
        await noisy.execute('stop');
        await noisy.execute('cont');
      }
    })();
    await othersWork(); // during the flood
    await flood;
    await eventually(() => fleet.get('vm1')!.proxy.clients.size === 1, 'the slow client disconnected (maxClientOutputBytes)');
    await othersWork();
    for (const o of others) assert.deepEqual(o.seen, [], `${o.name} received no event`);
  });

  it("one VM's QEMU dies: the other VMs' clients keep working and their links stay up", async () => {
    await qemus[0]!.kill();
    await eventually(() => noisy.closed, "the dead VM's client is closed");
    assert.notEqual(fleet.get('vm1')!.proxy.upstreamState, 'ready');
    await othersWork();
    for (const o of others) {
      assert.deepEqual(o.seen, [], `${o.name} received nothing spurious`);
      assert.deepEqual(o.states, ['ready'], `${o.name}'s link never left ready`);
      assert.equal(o.client.closed, false);
    }
    await qemus[0]!.restart();
    const back = await QmpClient.connect(`unix:${sock('vm1')}`);
    assert.deepEqual(await back.execute('query-name'), { name: 'vm1' }, 'the VM reconnects to its restarted QEMU');
    back.close();
  });
});
