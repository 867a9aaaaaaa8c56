/**
 * Discovery against real QEMUs started in a watched directory: a socket appearing becomes a VM that
 * reaches its QEMU; a socket disappearing, or a QEMU killed and not back within discoverGoneMs,
 * removes the VM (its clients closed, its listener socket unlinked); a restarted QEMU comes back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClient } from '@qmpmux/client';
import { parseConfig } from '@qmpmux/core';
import { assertReaches, startQemu, type TestQemu } from '@qmpmux/e2e';
import { Discovery, Fleet, LinkWatch, specOf } from '../src/index.ts';
import { eventually, keptLog, settings, vm } from './helpers.ts';

const GONE_MS = 600;
const RESCAN_MS = 300;

describe('discovery', () => {
  const root = mkdtempSync(join(tmpdir(), 'qmpmux-discover-'));
  const watched = join(root, 'qemu');
  const out = join(root, 'mux');
  mkdirSync(watched);
  mkdirSync(out);
  const listener = (n: string) => join(out, `${n}.sock`);
  const { log, lines } = keptLog();
  const qemus: TestQemu[] = [];
  const cfg = parseConfig({ discover: { dir: watched, listen: [`unix:${out}/{name}.sock`] } });
  let discovery: Discovery;
  const links = new LinkWatch({ goneMs: GONE_MS, gone: (v, ms) => void discovery.gone(v.spec.name, ms) });
  const fleet = new Fleet({ log, maxVms: 8, onStarted: (v) => links.onStarted(v), onStopped: (v) => links.onStopped(v) });
  const qemu = async (socket: string, name: string) => {
    const q = await startQemu({ dir: watched, socket, name });
    qemus.push(q);
    return q;
  };

  before(async () => {
    await fleet.sync('config', [vm(0, 'fixed', (await qemu('fixed.sock', 'fixed')).address, [`unix:${listener('fixed-config')}`])], { atomic: true });
    discovery = new Discovery({ config: cfg.discover!, vms: fleet, spec: (e) => specOf(e, 'discover', settings()), limits: { discoverRescanMs: RESCAN_MS }, log });
    await discovery.start();
  });
  after(async () => {
    await discovery.stop();
    links.stop();
    await fleet.stop();
    for (const q of qemus) await q.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('a QMP socket appearing becomes a VM named after the file, reaching its QEMU', async () => {
    await qemu('vmA.qmp', 'vmA');
    await eventually(() => existsSync(listener('vmA')), 'vmA discovered');
    await assertReaches(`unix:${listener('vmA')}`, 'vmA');
    assert.equal(fleet.get('vmA')!.spec.origin, 'discover');
    assert.equal(fleet.get('vmA')!.proxy.upstreamAddress, `unix:${join(watched, 'vmA.qmp')}`);
  });

  it('skips what is not a matching socket, or not a valid name, with one warning', async () => {
    await qemu('bad name!.qmp', 'bad');
    writeFileSync(join(watched, 'plain.qmp'), 'not a socket');
    await qemu('other.sock', 'other'); // does not match *.qmp
    await sleep(RESCAN_MS * 3);
    assert.deepEqual(fleet.list().map((v) => v.spec.name).sort(), ['fixed', 'vmA']);
    assert.equal(lines.filter((l) => l.includes('bad name!.qmp: "bad name!" is not a VM name')).length, 1, 'warned once, not at every rescan');
  });

  it('a socket that disappears removes its VM: clients closed, listener socket unlinked', async () => {
    const q = await qemu('vmB.qmp', 'vmB');
    await eventually(() => existsSync(listener('vmB')), 'vmB discovered');
    const c = await QmpClient.connect(`unix:${listener('vmB')}`);
    assert.deepEqual(await c.execute('query-name'), { name: 'vmB' });
    rmSync(q.socket);
    await eventually(() => c.closed, 'its client closed');
    assert.equal(fleet.get('vmB'), undefined);
    assert.equal(existsSync(listener('vmB')), false);
  });

  it('a QEMU killed and not back within discoverGoneMs: the VM goes; restarted, it comes back', async () => {
    const a = await QmpClient.connect(`unix:${listener('vmA')}`);
    const q = qemus.find((x) => x.socket.endsWith('vmA.qmp'))!;
    const killedAt = Date.now();
    await q.kill(); // its socket file stays behind
    await eventually(() => !existsSync(listener('vmA')), 'vmA removed', 10_000);
    assert.ok(Date.now() - killedAt >= GONE_MS, 'not before discoverGoneMs');
    assert.equal(a.closed, true);
    assert.ok(existsSync(q.socket), 'the stale socket file is still there');
    await sleep(RESCAN_MS * 3);
    assert.equal(fleet.get('vmA'), undefined, 'the stale socket is not taken again');
    assert.ok(lines.some((l) => l.includes(`VM 'vmA': QEMU unreachable for ${GONE_MS} ms (discoverGoneMs): removed`)));

    await q.restart(); // a new socket file
    await eventually(() => existsSync(listener('vmA')), 'vmA back');
    await assertReaches(`unix:${listener('vmA')}`, 'vmA');
  });

  it('a discovered name in use by a config VM is skipped', async () => {
    await qemu('fixed.qmp', 'fixed2');
    await sleep(RESCAN_MS * 3);
    assert.equal(fleet.get('fixed')!.spec.origin, 'config');
    assert.ok(lines.some((l) => l.includes("discovery: VM 'fixed' not added: the name is in use by a VM from config")));
    assert.equal(existsSync(listener('fixed')), false);
  });
});
