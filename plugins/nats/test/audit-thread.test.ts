/**
 * The nats plugin's audit shipping in its thread: two VMs in one process (two qmpmux proxies in front
 * of two real QEMUs, each with hmp-audit), one shipping thread for both, each log on its own subject;
 * the thread ends with the last shipper. Real nats-server.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { QmpClient } from '@qmpmux/client';
import { startNats, startProxy, startQemu, useTempDir, type TestNats, type TestProxy, type TestQemu } from '@qmpmux/e2e';
import { hostname } from 'node:os';
import { auditThreadShippers } from '../src/audit-thread.ts';
import { natsPlugin } from '../src/index.ts';
import { auditPlugin, countOnSubject, hmp, localRecords, sameAsLog, streamMessages } from './audit-helpers.ts';
import { captureLog, natsClient, until } from './helpers.ts';

const tmp = useTempDir('qmpmux-nats-audit-');
let nats: TestNats;
let nc: NatsConnection;
const qemus: TestQemu[] = [];
before(async () => {
  nats = await startNats();
  nc = await natsClient(nats.url);
  for (let i = 0; i < 2; i++) qemus.push(await startQemu());
});
after(async () => {
  await nc?.close();
  await nats?.stop();
  for (const q of qemus) await q.stop();
});

describe('audit shipping in the nats plugin', () => {
  it('ships two VMs’ logs from one thread, each on its subject, and the thread ends with the last VM', async () => {
    const vms = ['vmA', 'vmB'];
    const paths = vms.map((vm) => join(tmp, vm, 'audit.log'));
    const muxes: TestProxy[] = [];
    try {
      for (const [i, vm] of vms.entries()) {
        const { log } = captureLog();
        muxes.push(await startProxy(qemus[i]!.address, { name: vm, log, plugins: [auditPlugin(paths[i]!), { definition: natsPlugin, options: { servers: [nats.url], audit: { path: paths[i] } } }] }));
      }
      assert.equal(auditThreadShippers(), 2);
      for (const [i, m] of muxes.entries()) {
        const c = await QmpClient.connect(m.unix);
        for (let k = 1; k <= 5 + i; k++) assert.equal(await hmp(c, `p ${k}`), `0x${k.toString(16)}\r\n`);
        c.close();
      }
      for (const [i, vm] of vms.entries()) {
        await until(async () => (await countOnSubject(nc, 'QMPMUX_AUDIT', `qmpmux.${vm}.audit`)) === localRecords(paths[i]!).length, `${vm}'s records in the stream`);
      }
      await muxes[0]!.stop();
      assert.equal(auditThreadShippers(), 1, 'the other VM still ships');
      await muxes[1]!.stop();
      assert.equal(auditThreadShippers(), 0, 'no thread once no VM ships');
      for (const [i, vm] of vms.entries()) {
        // The clean stop's `stop` record is written after the plugin closed: it goes out at the next start.
        const problem = sameAsLog(await streamMessages(nc, 'QMPMUX_AUDIT', `qmpmux.${vm}.audit`), paths[i]!, hostname(), 1);
        assert.equal(problem, undefined, `${vm}: ${problem}`);
      }
    } finally {
      for (const m of muxes) await m.stop().catch(() => undefined);
    }
  });
});
