/**
 * The nats plugin with `"threads": 2` (each VM, its nats plugin instance included, runs in a worker
 * thread): a VM in each thread, each with hmp-audit and the nats plugin — both VMs' inventory entries
 * (the serve process's pid), their events in the stream, their command gateways answering, their audit
 * records shipped (each plugin's audit shipper runs in an audit thread started from its VM thread).
 * Real QEMUs, a real nats-server, qmpmux as a process.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient } from '@qmpmux/client';
import { runQmpmux, spawnQmpmux, startNats, startQemu, until, type QmpmuxProcess, type TestNats, type TestQemu } from '@qmpmux/e2e';
import { Fleet } from '@qmpmux/plugin-nats';

describe('the nats plugin in VM threads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qmpmux-nats-threads-'));
  const sock = (vm: string) => join(dir, `${vm}.sock`);
  const auditLog = (vm: string) => join(dir, `${vm}-audit.log`);
  const VMS = ['vm1', 'vm2'];
  const qemus: TestQemu[] = [];
  let nats: TestNats;
  let fleet: Fleet;
  let serve: QmpmuxProcess;

  before(async () => {
    nats = await startNats();
    for (const vm of VMS) qemus.push(await startQemu({ name: vm }));
    const file = join(dir, 'qmpmux.json');
    const vms = VMS.map((vm, i) => ({
      name: vm,
      upstream: qemus[i]!.address,
      listen: [`unix:${sock(vm)}`],
      plugins: [
        { name: 'clients' },
        { name: 'hmp-audit', options: { path: auditLog(vm), fsync: 'batch' } },
        { name: 'nats', options: { servers: [nats.url], gatewayPrincipal: 'fleet', audit: { path: auditLog(vm) } } },
      ],
    }));
    writeFileSync(file, JSON.stringify({ threads: 2, vms, log: 'info' }));
    serve = await spawnQmpmux(['serve', '--config', file], {
      ready: (log) => /fleet: 2 VM\(s\) in 2 threads/.test(log) && (log.match(/connected to NATS/g) ?? []).length >= 2,
      env: { QMPMUX_WARMUP: '100' },
    });
    fleet = await Fleet.open({ servers: [nats.url] });
  });
  after(async () => {
    await serve?.stop('SIGKILL');
    await fleet?.close();
    for (const q of qemus) await q.stop();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs one VM in each thread, each with its own NATS connection', () => {
    const placed = Object.fromEntries([...serve.log().matchAll(/\[qmpmux:thread(\d+)\] VM '([^']+)' started/g)].map((m) => [m[2]!, Number(m[1])]));
    assert.deepEqual(placed, { vm1: 0, vm2: 1 });
    for (const vm of VMS) assert.match(serve.log(), new RegExp(`\\[qmpmux:${vm}:nats\\] connected to NATS`), vm);
  });

  it("both VMs' inventory entries, events, command gateways and audit records reach NATS", async () => {
    await until(async () => {
      const ls = await fleet.ls();
      return VMS.every((vm) => ls.some((e) => e.vm === vm && e.pid === serve.pid && e.upstream.state === 'ready'));
    }, 'both inventory entries, ready, with the serve process pid');
    for (const vm of VMS) {
      const c = await QmpClient.connect(`unix:${sock(vm)}`);
      await c.execute('stop');
      await c.execute('cont');
      await c.execute('human-monitor-command', { 'command-line': 'info status' });
      c.close();
    }
    for (const vm of VMS) {
      await until(async () => {
        const names: string[] = [];
        for await (const m of fleet.events({ vm })) if (m.kind === 'event') names.push((JSON.parse(m.raw.toString()) as { event: string }).event);
        return names.join() === 'STOP,RESUME';
      }, `${vm}'s STOP and RESUME in the stream`);
      const reply = JSON.parse((await fleet.exec(vm, Buffer.from(JSON.stringify({ execute: 'query-name', id: vm })), 5000)).toString());
      assert.deepEqual(reply, { return: { name: vm }, id: vm }, `${vm}'s gateway`);
      await until(async () => /^ok: [1-9]\d* record\(s\), seq 1\.\./.test((await runQmpmux(['audit', 'verify', '--vm', vm, '--nats', nats.url])).out), `${vm}'s audit records shipped and verified`);
    }
  });

  it("SIGTERM: every thread's plugins close — both inventory entries deleted at once, not left to expire", async () => {
    assert.equal(await serve.stop('SIGTERM', 10_000), 0);
    const left = (await fleet.ls()).filter((e) => VMS.includes(e.vm));
    assert.deepEqual(left, [], 'deleted by the closing plugins (the TTL is far longer)');
  });
});
