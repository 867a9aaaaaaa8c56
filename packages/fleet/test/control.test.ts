/**
 * The control socket against real QEMUs: a QMP monitor that answers as QEMU answers (the same bytes
 * as QEMU's own monitor for negotiation, unknown commands and bad input), and the fleet's commands:
 * query-vms, add-vm, remove-vm, with QEMU's argument texts, listed in query-commands and
 * query-qmp-schema.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient, QmpError } from '@qmpmux/client';
import type { LocalMonitor } from '@qmpmux/core';
import { RawClient, startQemu, type TestQemu } from '@qmpmux/e2e';
import { Fleet, fleetControl, specOf, startControl } from '../src/index.ts';
import { eventually, keptLog, settings, vm } from './helpers.ts';

const CONTROL_PLUGINS = 'clients';

describe('the control socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qmpmux-control-'));
  const sock = (n: string) => join(dir, `${n}.sock`);
  const control = `unix:${join(dir, 'control.sock')}`;
  let q1: TestQemu;
  let q2: TestQemu;
  const { log } = keptLog();
  const fleet = new Fleet({ log, maxVms: 3 });
  let monitor: LocalMonitor;
  let qmp: QmpClient;
  const raws: RawClient[] = [];
  const raw = async (address: string) => {
    const r = await RawClient.connect(address);
    raws.push(r);
    return r;
  };
  const err = (desc: string, cls = 'GenericError') => (e: unknown) => e instanceof QmpError && e.cls === cls && e.desc === desc;

  before(async () => {
    q1 = await startQemu({ name: 'vm1' });
    q2 = await startQemu({ name: 'vm2' });
    await fleet.sync('config', [vm(0, 'vm1', q1.address, [`unix:${sock('vm1')}`])], { atomic: true });
    monitor = await startControl(control, { vms: fleetControl(fleet), spec: (e) => specOf(e, 'control', settings()), maxClients: 2, version: '0.1.0', log });
    qmp = await QmpClient.connect(control);
  });
  after(async () => {
    qmp?.close();
    for (const r of raws) r.close();
    await monitor?.stop();
    await fleet.stop();
    await q1?.stop();
    await q2?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is a unix socket of mode 0600 with a QEMU-shaped greeting', async () => {
    assert.equal(statSync(join(dir, 'control.sock')).mode & 0o777, 0o600);
    const r = await raw(control);
    await r.count(1);
    assert.equal(r.received, '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 1, "major": 0}, "package": "qmpmux 0.1.0"}, "capabilities": []}}\r\n');
    r.close();
    await eventually(() => monitor.clientCount === 1, 'the client gone');
  });

  it("answers negotiation, unknown commands and bad input with QEMU's own bytes", async () => {
    // The same input to QEMU's own monitor (a second QEMU, no client yet) and to the control socket.
    const inputs = [
      '{"execute": "query-status", "id": 1}',
      '{"execute": "qmp_capabilities", "arguments": {"enable": ["foo"]}, "id": 2}',
      '{"execute": "qmp_capabilities", "arguments": {"enable": "oob"}, "id": 3}',
      '{"execute": "qmp_capabilities", "arguments": {"x": 1}, "id": 4}',
      '{"execute": "qmp_capabilities", "id": 5}',
      '{"execute": "qmp_capabilities", "id": 6}',
      '{"execute": "no-such-command", "id": {"b": 1, "a": 2}}',
      '{"execute": "__org.qmpmux_nope", "id": 8}',
      '{"execute": }',
      '[1]',
      '{"execute": "query-commands", "arguments": {"x": 1}, "id": 9}',
      '{"execute": "query-version", "id": "v", "foo": 1}',
    ];
    const answers = async (address: string) => {
      const r = await raw(address);
      await r.count(1);
      let n = 1;
      for (const line of inputs) {
        r.send(line);
        await r.count(++n);
      }
      r.close();
      return r.messages.slice(1).map((m) => m.raw);
    };
    const fromControl = await answers(control);
    await eventually(() => monitor.clientCount === 1, 'the client gone');
    const fromQemu = await answers(q2.address);
    assert.deepEqual(fromControl, fromQemu);
    assert.match(fromControl[6]!, /"The command no-such-command has not been found"/);
  });

  it('lists its commands in query-commands and query-qmp-schema', async () => {
    const names = (await qmp.execute<{ name: string }[]>('query-commands')).map((c) => c.name);
    for (const n of ['qmp_capabilities', 'query-commands', 'query-qmp-schema', 'query-version', '__org.qmpmux_query-vms', '__org.qmpmux_add-vm', '__org.qmpmux_remove-vm']) assert.ok(names.includes(n), n);
    assert.equal(names.includes('stop'), false, 'no QEMU command is offered');
    const schema = await qmp.execute<{ name: string; 'meta-type': string; 'arg-type'?: string; members?: { name: string; type: string; default?: null }[] }[]>('query-qmp-schema');
    const byName = new Map(schema.map((e) => [e.name, e]));
    const add = byName.get('__org.qmpmux_add-vm')!;
    assert.equal(add['meta-type'], 'command');
    const args = byName.get(add['arg-type']!)!;
    assert.deepEqual(
      args.members!.map((m) => `${m.name}${'default' in m ? '?' : ''}`),
      ['name', 'upstream', 'listen', 'plugins?', 'limits?'],
    );
    assert.equal(byName.get('__org.qmpmux_remove-vm')!['meta-type'], 'command');
  });

  it('query-vms: name, origin, upstream, state, QEMU version, clients, listeners', async () => {
    const c = await QmpClient.connect(`unix:${sock('vm1')}`);
    try {
      const version = await c.execute('query-version');
      const vms = await qmp.execute<Record<string, unknown>[]>('__org.qmpmux_query-vms' as never);
      assert.deepEqual(vms, [{ name: 'vm1', origin: 'config', upstream: q1.address, state: 'ready', clients: 1, listeners: [`unix:${sock('vm1')}`], version }]);
    } finally {
      c.close();
    }
  });

  it("add-vm checks its arguments with QEMU's texts, then the VM entry, naming the field", async () => {
    const add = (args: Record<string, unknown>) => qmp.execute('__org.qmpmux_add-vm' as never, args as never);
    await assert.rejects(add({ name: 'vm2', listen: [] }), err("Parameter 'upstream' is missing"));
    await assert.rejects(add({ name: 'vm2', upstream: q2.address, listen: 'unix:x' }), err("Invalid parameter type for 'listen', expected: array"));
    await assert.rejects(add({ name: 'vm2', upstream: q2.address, listen: [], colour: 'red' }), err("Parameter 'colour' is unexpected"));
    await assert.rejects(add({ name: 'vm2', upstream: q2.address, listen: [], plugins: [{ options: {} }] }), err("Parameter 'plugins[0].name' is missing"));
    await assert.rejects(add({ name: 'no/slash', upstream: q2.address, listen: [`unix:${sock('x')}`] }), err('qmpmux: invalid VM: arguments.name: a VM name is 1 to 64 of A-Z a-z 0-9 _ . - (got "no/slash")'));
    await assert.rejects(add({ name: 'vm2', upstream: q2.address, listen: [`unix:${sock('vm2')}`], plugins: [{ name: 'nope' }] }), err("qmpmux: invalid VM: arguments.plugins[0].name: unknown plugin 'nope' (available: policy, clients)"));
    await assert.rejects(add({ name: 'vm2', upstream: q2.address, listen: [`unix:${sock('vm1')}`] }), err(`qmpmux: invalid VM: arguments.listen[0]: unix:${sock('vm1')} is used by VM 'vm1'`));
    await assert.rejects(add({ name: 'vm2', upstream: q2.address, listen: ['tcp:0.0.0.0:0'] }), (e: unknown) => e instanceof QmpError && /^qmpmux: invalid VM: arguments\.listen\[0\]: tcp:0\.0\.0\.0:0 is on a non-loopback address/.test(e.desc));
    await assert.rejects(add({ name: 'vm1', upstream: q2.address, listen: [`unix:${sock('other')}`] }), err("qmpmux: a VM named 'vm1' exists already"));
    assert.equal(fleet.size, 1, 'nothing was added');
    assert.equal(existsSync(sock('vm2')), false);
  });

  it('add-vm starts a VM that reaches its QEMU; remove-vm stops it, closes its clients and unlinks its socket', async () => {
    const info = await qmp.execute<Record<string, unknown>>('__org.qmpmux_add-vm' as never, { name: 'vm2', upstream: q2.address, listen: [`unix:${sock('vm2')}`], plugins: [{ name: CONTROL_PLUGINS }], limits: { maxClients: 2 } } as never);
    assert.equal(info.name, 'vm2');
    assert.equal(info.origin, 'control');
    assert.deepEqual(info.listeners, [`unix:${sock('vm2')}`]);
    const c = await QmpClient.connect(`unix:${sock('vm2')}`);
    assert.deepEqual(await c.execute('query-name'), { name: 'vm2' });
    assert.equal(fleet.get('vm2')!.proxy.limits.maxClients, 2);
    assert.deepEqual(await c.execute<{ id: number }[]>('__org.qmpmux_query-clients' as never).then((l) => l.length), 1, 'its own plugins');

    assert.deepEqual(await qmp.execute('__org.qmpmux_remove-vm' as never, { name: 'vm2' } as never), {});
    await eventually(() => c.closed, "the removed VM's client is closed");
    assert.equal(existsSync(sock('vm2')), false);
    await assert.rejects(qmp.execute('__org.qmpmux_remove-vm' as never, { name: 'vm2' } as never), err("qmpmux: no VM named 'vm2'"));
    await assert.rejects(qmp.execute('__org.qmpmux_remove-vm' as never, {} as never), err("Parameter 'name' is missing"));
  });

  it('maxVms bounds add-vm', async () => {
    const add = (n: string) => qmp.execute('__org.qmpmux_add-vm' as never, { name: n, upstream: q2.address, listen: [`unix:${sock(n)}`] } as never);
    await add('a');
    await add('b');
    await assert.rejects(add('c'), err('qmpmux: too many VMs (maxVms=3)'));
    for (const n of ['a', 'b']) await qmp.execute('__org.qmpmux_remove-vm' as never, { name: n } as never);
  });

  it('refuses a client beyond maxControlClients, with a clear error', async () => {
    const second = await raw(control);
    await second.count(1);
    const third = await raw(control);
    await third.until(() => third.closed, 5000, 'the refusal');
    assert.equal(third.received, '{"error": {"class": "GenericError", "desc": "qmpmux: too many clients (maxClients=2)"}}\r\n');
  });
});
