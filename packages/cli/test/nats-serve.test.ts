/**
 * `qmpmux serve` with the nats plugin, as a real process that is killed (-9): its inventory entry
 * expires, and after a restart the events stream holds every event once. Real QEMU and nats-server.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClient } from '@qmpmux/client';
import { spawnQmpmux, startNats, startQemu, until, type QmpmuxProcess, type TestNats, type TestQemu } from '@qmpmux/e2e';
import { Fleet, type FleetMessage } from '@qmpmux/plugin-nats';

describe('qmpmux serve with the nats plugin, killed with -9', () => {
  let nats: TestNats;
  let qemu: TestQemu;
  let fleet: Fleet;
  let dir: string;
  let sock: string;
  let cfg: string;
  let serve: QmpmuxProcess | undefined;
  let produced = 0;

  const launch = async () => {
    rmSync(sock, { force: true });
    serve = await spawnQmpmux(['serve', '--config', cfg], { ready: (log) => existsSync(sock) && /connected to NATS/.test(log), env: { QMPMUX_WARMUP: '0' } });
  };
  const kill9 = async () => {
    await serve!.stop('SIGKILL');
    serve = undefined;
  };
  const toggle = async (n: number) => {
    const c = await QmpClient.connect(`unix:${sock}`);
    for (let i = 0; i < n; i++) {
      await c.execute('stop');
      await c.execute('cont');
    }
    c.close();
    produced += 2 * n;
  };
  const stored = async () => {
    const out: FleetMessage[] = [];
    for await (const m of fleet.events({ vm: 'vmk' })) out.push(m);
    return out;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qmpmux-nats-serve-'));
    sock = join(dir, 'vmk.sock');
    cfg = join(dir, 'qmpmux.json');
    nats = await startNats();
    qemu = await startQemu();
    writeFileSync(cfg, JSON.stringify({ name: 'vmk', upstream: qemu.address, listen: [`unix:${sock}`], plugins: [{ name: 'nats', options: { servers: [nats.url], ttl: 2 } }] }));
    fleet = await Fleet.open({ servers: [nats.url] });
  });
  after(async () => {
    if (serve) await kill9();
    await fleet?.close();
    await qemu?.stop();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the inventory entry of a killed qmpmux expires after the bucket's TTL", async () => {
    await launch();
    const pid = serve!.pid;
    await until(async () => (await fleet.ls()).some((e) => e.vm === 'vmk' && e.pid === pid && e.upstream.state === 'ready'), 'the entry');
    await toggle(2);
    await until(async () => (await stored()).length === produced, 'the events stored');
    await kill9();
    assert.ok((await fleet.ls()).some((e) => e.vm === 'vmk'), 'still there right after the kill');
    await until(async () => !(await fleet.ls()).some((e) => e.vm === 'vmk'), 'the entry expired', 15_000);
  });

  it('after kill -9 and a restart, the events stream holds every event exactly once', async () => {
    await launch();
    await toggle(3);
    await until(async () => (await stored()).length === produced, 'the events after the restart');
    await kill9();
    await launch();
    await toggle(2);
    await until(async () => (await stored()).length >= produced, 'the events after the second restart');
    await sleep(200);
    const msgs = (await stored()).filter((m): m is Extract<FleetMessage, { kind: 'event' }> => m.kind === 'event');
    assert.equal(msgs.length, produced, 'as many as QEMU emitted');
    assert.equal(new Set(msgs.map((m) => m.headers['Nats-Msg-Id'])).size, produced, 'no message id twice');
    // QEMU's timestamps tell events apart whatever qmpmux numbered them: no event twice.
    assert.equal(new Set(msgs.map((m) => m.raw.toString())).size, produced, 'no event twice');
    assert.equal(new Set(msgs.map((m) => m.headers['Qmpmux-Epoch'])).size, 3, 'one epoch per qmpmux run');
  });
});
