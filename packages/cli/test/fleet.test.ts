/** `qmpmux fleet ls|events|exec`, run as a process, against two qmpmux with the nats plugin. Real QEMU and nats-server. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClient } from '@qmpmux/client';
import { createLogger } from '@qmpmux/core';
import { runQmpmux, spawnQmpmux, startNats, startProxy, startQemu, until, type TestNats, type TestProxy, type TestQemu } from '@qmpmux/e2e';
import { Fleet, natsPlugin, type FleetMessage } from '@qmpmux/plugin-nats';

// qmpmux as a child process that this one does not wait for: the proxies under test live in this one.
const run = (...args: string[]) => runQmpmux(args);
const runWith = (env: Record<string, string>, ...args: string[]) => runQmpmux(args, { env });
describe('qmpmux fleet', () => {
  let nats: TestNats;
  const qemus: TestQemu[] = [];
  const muxes: TestProxy[] = [];
  let fleet: Fleet;
  let stored: FleetMessage[] = [];
  const events = async () => {
    const out: FleetMessage[] = [];
    for await (const m of fleet.events({})) out.push(m);
    return out;
  };
  const toggle = async (mux: TestProxy, n: number) => {
    const c = await QmpClient.connect(mux.unix);
    for (let i = 0; i < n; i++) {
      await c.execute('stop');
      await c.execute('cont');
    }
    c.close();
  };

  before(async () => {
    nats = await startNats();
    for (const vm of ['vm1', 'vm2']) {
      const q = await startQemu();
      qemus.push(q);
      muxes.push(await startProxy(q.address, { name: vm, log: createLogger('t', 'error'), plugins: [{ definition: natsPlugin, options: { servers: [nats.url], gatewayPrincipal: 'fleet' } }] }));
    }
    fleet = await Fleet.open({ servers: [nats.url] });
    await toggle(muxes[0]!, 1); // vm1: STOP RESUME
    await toggle(muxes[1]!, 1); // vm2: STOP RESUME
    await until(async () => (stored = await events()).length === 4, '4 events stored');
    await until(async () => (await fleet.ls()).filter((e) => e.upstream.state === 'ready' && e.listeners.length).length === 2, 'both VMs listed');
  });
  after(async () => {
    await fleet?.close();
    for (const m of muxes) await m.stop();
    for (const q of qemus) await q.stop();
    await nats?.stop();
  });

  it('ls: one row per VM (host, pid, QEMU, upstream, state, clients, listeners); --json gives the entries', async () => {
    const r = await run('fleet', 'ls', '--nats', nats.url);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n');
    assert.match(lines[0]!, /^VM +HOST +PID +QEMU +UPSTREAM +STATE +CLIENTS +LISTENERS +UPDATED$/);
    assert.equal(lines.length, 3);
    assert.match(lines[1]!, new RegExp(`^vm1 +\\S+ +${process.pid} +\\d+\\.\\d+\\.\\d+ +unix:\\S+ +ready `));
    assert.match(lines[2]!, /^vm2 /);
    const j = await run('fleet', 'ls', '--json', '--nats', nats.url);
    const list = JSON.parse(j.out) as { vm: string; listeners: string[] }[];
    assert.deepEqual(list.map((e) => e.vm), ['vm1', 'vm2']);
    assert.deepEqual(list[0]!.listeners, muxes[0]!.proxy.listenerAddresses);
  });

  it("events: every host's events in stream order, printed like qmpmux events with the VM's name", async () => {
    const r = await run('fleet', 'events', '--nats', nats.url);
    assert.equal(r.code, 0, r.err);
    const want = stored.map((m) => (m.kind === 'event' ? `${m.vm}: ${m.raw.toString('latin1').replace(/\r\n$/, '')}` : ''));
    assert.deepEqual(r.out.trim().split('\n'), want);
    assert.match(r.out, /^vm1: \{"timestamp": \{"seconds": \d+, "microseconds": \d+\}, "event": "STOP"\}$/m);
  });

  it('events --vm GLOB, --event NAME, --since SEQ and --since TIME select', async () => {
    const names = (out: string) => out.trim().split('\n').filter(Boolean).map((l) => `${l.split(':')[0]}:${/"event": "(\w+)"/.exec(l)![1]}`);
    assert.deepEqual(names((await run('fleet', 'events', '--vm', 'vm2', '--nats', nats.url)).out), ['vm2:STOP', 'vm2:RESUME']);
    assert.deepEqual(names((await run('fleet', 'events', '--vm', 'vm?', '--event', 'RESUME', '--nats', nats.url)).out), ['vm1:RESUME', 'vm2:RESUME']);
    assert.deepEqual(names((await run('fleet', 'events', '--vm', 'vm1', '--event', 'STOP', '--nats', nats.url)).out), ['vm1:STOP']);
    assert.deepEqual(names((await run('fleet', 'events', '--since', String(stored[2]!.streamSeq), '--nats', nats.url)).out), ['vm2:STOP', 'vm2:RESUME']);
    assert.equal((await run('fleet', 'events', '--vm', 'nothing*', '--nats', nats.url)).out, '');
    // A time after every stored event: nothing; the epoch: everything.
    await sleep(20);
    const now = new Date().toISOString();
    assert.equal((await run('fleet', 'events', '--since', now, '--nats', nats.url)).out, '');
    assert.equal(names((await run('fleet', 'events', '--since', '2000-01-01T00:00:00Z', '--nats', nats.url)).out).length, 4);
    const ts = await run('fleet', 'events', '--vm', 'vm1', '--event', 'STOP', '--timestamp', '--nats', nats.url);
    assert.match(ts.out, /^\d{4}-\d\d-\d\dT[\d:.]+Z: vm1: \{"timestamp"/);
  });

  it('events --follow prints the stored events, then new ones as they come, until Ctrl-C', async () => {
    const f = await spawnQmpmux(['fleet', 'events', '--follow', '--vm', 'vm1', '--nats', nats.url]);
    await until(() => f.out().trim().split('\n').length === 2, 'the stored vm1 events');
    await toggle(muxes[0]!, 1);
    await toggle(muxes[1]!, 1); // not printed: --vm vm1
    await until(() => f.out().trim().split('\n').length === 4, 'the new vm1 events');
    f.child.kill('SIGINT');
    assert.equal(await f.exited, 0);
    assert.deepEqual(f.out().trim().split('\n').map((l) => /"event": "(\w+)"/.exec(l)![1]), ['STOP', 'RESUME', 'STOP', 'RESUME']);
    assert.ok(f.out().split('\n').filter(Boolean).every((l) => l.startsWith('vm1: ')));
  });

  it("exec: runs one command through a VM's gateway and prints QEMU's reply; key=value arguments; exit 1 on an error", async () => {
    const r = await run('fleet', 'exec', '--vm', 'vm2', 'query-status', '--nats', nats.url);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, '{"return": {"status": "running", "singlestep": false, "running": true}}\n');
    const hmp = await run('fleet', 'exec', '--vm', 'vm1', 'human-monitor-command', 'command-line=info status', '--nats', nats.url);
    assert.equal(hmp.code, 0, hmp.err);
    assert.match(JSON.parse(hmp.out).return, /VM status: running/);
    const bad = await run('fleet', 'exec', '--vm', 'vm1', 'qom-list', 'path=/nowhere', '--nats', nats.url);
    assert.equal(bad.code, 1);
    assert.match(JSON.parse(bad.out).error.desc, /Device '\/nowhere' not found/);
    const raw = await run('fleet', 'exec', '--vm', 'vm1', '{"execute":"query-name","id":"r"}', '--nats', nats.url);
    assert.equal(raw.out, '{"return": {}, "id": "r"}\n');
  });

  it('exec to a VM nobody serves, and a NATS nobody runs: one line, exit 1', async () => {
    const r = await run('fleet', 'exec', '--vm', 'ghost', 'query-status', '--nats', nats.url);
    assert.equal(r.code, 1);
    assert.equal(r.err, "qmpmux fleet exec: no qmpmux serves VM 'ghost' (nobody answers on qmpmux.ghost.qmp)\n");
    const down = await run('fleet', 'ls', '--nats', 'nats://127.0.0.1:1');
    assert.equal(down.code, 1);
    assert.match(down.err, /^qmpmux fleet: cannot connect to NATS nats:\/\/127\.0\.0\.1:1: .*\n$/);
  });

  it('events --follow keeps going across a restart of nats-server', async () => {
    const f = await spawnQmpmux(['fleet', 'events', '--follow', '--vm', 'vm2', '--event', 'STOP', '--nats', nats.url]);
    const lines = () => f.out().split('\n').filter(Boolean).length;
    await until(() => lines() === 2, 'the stored vm2 STOP events');
    await nats.kill9();
    await nats.restart();
    await toggle(muxes[1]!, 1);
    await until(() => lines() === 3, 'a STOP after the restart', 30_000);
    f.child.kill('SIGINT');
    assert.equal(await f.exited, 0);
  });
});

describe('qmpmux fleet against a NATS server that requires credentials', () => {
  it('takes user and password from the environment; without them, one line and exit 1', async () => {
    const nats = await startNats({ args: ['--user', 'qm', '--pass', 'pw-0123456789abcdef'] });
    const qemu = await startQemu();
    process.env.QMPMUX_TEST_FLEET_PASSWORD = 'pw-0123456789abcdef';
    const mux = await startProxy(qemu.address, { name: 'sec1', log: createLogger('t', 'error'), plugins: [{ definition: natsPlugin, options: { servers: [nats.url], user: 'qm', password: { env: 'QMPMUX_TEST_FLEET_PASSWORD' } } }] });
    try {
      const env = { QMPMUX_NATS_USER: 'qm', QMPMUX_NATS_PASSWORD: 'pw-0123456789abcdef' };
      await until(async () => (await runWith(env, 'fleet', 'ls', '--json', '--nats', nats.url)).out.includes('"sec1"'), 'sec1 listed');
      const denied = await run('fleet', 'ls', '--nats', nats.url);
      assert.equal(denied.code, 1);
      assert.match(denied.err, /^qmpmux fleet: cannot connect to NATS .*[Aa]uthorization.*\n$/);
    } finally {
      await mux.stop();
      await qemu.stop();
      await nats.stop();
    }
  });
});
