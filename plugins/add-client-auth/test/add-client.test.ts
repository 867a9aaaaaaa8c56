/**
 * add_client authorization against a real QEMU with a VNC server and socket chardevs: what is allowed
 * reaches QEMU (the VNC server greets the socket, the chardev connects), what is refused never does
 * (the fd name is still there to closefd), and a pipe is never handed over.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { closeSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient, QmpError } from '@qmpmux/client';
import { createLogger, type JsonPlain, type LogLevel } from '@qmpmux/core';
import { startProxy, startQemu, type TestProxy, type TestQemu } from '@qmpmux/e2e';
import { policyPlugin } from '@qmpmux/plugin-policy';
import { pipe, socketpair } from '@qmpmux/unixfd';
import { addClientAuthPlugin } from '../src/index.ts';

interface Line {
  level: LogLevel;
  tag: string;
  msg: string;
  fields?: Record<string, unknown>;
}

/** The first bytes the other end of a socketpair receives (the VNC server's RFB banner). */
function firstBytes(fd: number, ms = 5000): Promise<string> {
  const s = new net.Socket({ fd, readable: true, writable: true });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => (s.destroy(), reject(new Error('nothing received'))), ms);
    s.once('data', (d) => {
      clearTimeout(t);
      s.destroy();
      resolve(d.toString('latin1'));
    });
  });
}

const refusedWith = (desc: string) => (e: unknown) => e instanceof QmpError && e.cls === 'GenericError' && e.desc === desc;

describe('add_client authorization', () => {
  let dir: string;
  let qemu: TestQemu;
  let mux: TestProxy;
  let qmp: QmpClient;
  const logs: Line[] = [];
  const keep: number[] = [];

  /** Replace the add_client rules of principal 'root' (the test process) through a reload. */
  const rules = (root: Record<string, unknown> | undefined, profile = 'full') =>
    mux.proxy.reload([
      { definition: policyPlugin, options: { principals: [{ name: 'root', match: [{ uid: 0 }], profile }] } },
      { definition: addClientAuthPlugin, options: { principals: root ? { root } : {} } },
    ]);

  /** getfd a new socket under `name`; returns the other end. */
  const socketNamed = async (name: string, client = qmp): Promise<number> => {
    const [mine, theirs] = socketpair();
    await client.execute('getfd', { fdname: name }, { fds: [theirs] });
    keep.push(mine);
    return mine;
  };
  const decisions = () => logs.filter((l) => l.tag.endsWith(':add-client-auth') && /^add_client (allowed|refused)$/.test(l.msg));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qmpmux-addclient-'));
    qemu = await startQemu({
      dir,
      args: [
        '-vnc', `unix:${join(dir, 'vnc.sock')}`,
        '-chardev', `socket,id=ch0,path=${join(dir, 'ch0.sock')},server=on,wait=off`,
        '-chardev', `socket,id=serial1,path=${join(dir, 'serial1.sock')},server=on,wait=off`,
      ],
    });
    mux = await startProxy(qemu.address, {
      tcp: false,
      log: createLogger('qmpmux', 'debug', (level, tag, msg, fields) => logs.push({ level, tag, msg, fields })),
      plugins: [
        { definition: policyPlugin, options: { principals: [{ name: 'root', match: [{ uid: 0 }], profile: 'full' }] } },
        { definition: addClientAuthPlugin, options: {} },
      ],
    });
    qmp = await QmpClient.connect(mux.unix);
  });
  beforeEach(() => {
    logs.length = 0;
  });
  after(async () => {
    qmp?.close();
    for (const fd of keep) closeSync(fd);
    await mux?.stop();
    await qemu?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a principal without add_client rules may not use it at all', async () => {
    await rules(undefined);
    await socketNamed('n0');
    await assert.rejects(qmp.execute('add_client', { protocol: 'vnc', fdname: 'n0' }), refusedWith("qmpmux: add_client refused for principal 'root': no add_client rules for principal 'root'"));
    assert.deepEqual(await qmp.execute('closefd', { fdname: 'n0' }), {}, 'the refused add_client never reached QEMU: the name is still there');
  });

  it('the command policy is checked first: a read-only principal is refused by the policy plugin', async () => {
    await rules({ protocols: ['vnc'] }, 'read-only');
    await assert.rejects(qmp.execute('add_client', { protocol: 'vnc', fdname: 'x' }), refusedWith("qmpmux: command 'add_client' is not permitted for principal 'root'"));
    assert.equal(decisions().length, 0);
  });

  it('vnc allowed: QEMU gets the socket and its VNC server greets it; the decision is logged', async () => {
    await rules({ protocols: ['vnc'] });
    const mine = await socketNamed('v1');
    assert.deepEqual(await qmp.execute('add_client', { protocol: 'vnc', fdname: 'v1' }), {});
    assert.equal(await firstBytes(mine), 'RFB 003.008\n');
    keep.splice(keep.indexOf(mine), 1);
    const [d] = decisions();
    assert.equal(d?.msg, 'add_client allowed');
    assert.deepEqual(d?.fields, { client: 1, principal: 'root', arguments: { protocol: 'vnc', fdname: 'v1' }, reason: "protocol 'vnc', skipauth false, tls false, fd 'v1' is a socket" });
  });

  it('skipauth is refused unless allowed, and required when the rule says so', async () => {
    await rules({ protocols: ['vnc'] });
    await socketNamed('v2');
    await assert.rejects(qmp.execute('add_client', { protocol: 'vnc', fdname: 'v2', skipauth: true }), refusedWith("qmpmux: add_client refused for principal 'root': skipauth is not permitted"));
    const [d] = decisions();
    assert.equal(d?.msg, 'add_client refused');
    assert.equal(d?.level, 'warn');
    assert.deepEqual(d?.fields, { client: 1, principal: 'root', arguments: { protocol: 'vnc', fdname: 'v2', skipauth: true }, reason: 'skipauth is not permitted' });

    await rules({ protocols: ['vnc'], skipauth: 'allow' });
    const mine = await socketNamed('v2');
    assert.deepEqual(await qmp.execute('add_client', { protocol: 'vnc', fdname: 'v2', skipauth: true }), {});
    assert.equal(await firstBytes(mine), 'RFB 003.008\n');
    keep.splice(keep.indexOf(mine), 1);

    await rules({ protocols: ['vnc'], skipauth: 'require' });
    await socketNamed('v3');
    await assert.rejects(qmp.execute('add_client', { protocol: 'vnc', fdname: 'v3' }), refusedWith("qmpmux: add_client refused for principal 'root': skipauth must be set"));
    await assert.rejects(qmp.execute('add_client', { protocol: 'vnc', fdname: 'v3', skipauth: false }), refusedWith("qmpmux: add_client refused for principal 'root': skipauth must be set"));
    const untyped: string = 'add_client'; // a malformed skipauth, as a client could send it
    await assert.rejects(qmp.execute(untyped, { protocol: 'vnc', fdname: 'v3', skipauth: 'yes' }), refusedWith("qmpmux: add_client refused for principal 'root': 'skipauth' must be a boolean"));
    assert.deepEqual(await qmp.execute('closefd', { fdname: 'v3' }), {});
  });

  it('tls may be forbidden or required', async () => {
    await rules({ protocols: ['vnc'], tls: 'forbid' });
    await socketNamed('t1');
    await assert.rejects(qmp.execute('add_client', { protocol: 'vnc', fdname: 't1', tls: true }), refusedWith("qmpmux: add_client refused for principal 'root': tls is not permitted"));
    await rules({ protocols: ['vnc'], tls: 'require' });
    await assert.rejects(qmp.execute('add_client', { protocol: 'vnc', fdname: 't1' }), refusedWith("qmpmux: add_client refused for principal 'root': tls must be set"));
    assert.deepEqual(await qmp.execute('closefd', { fdname: 't1' }), {});
  });

  it('protocols not listed are refused', async () => {
    await rules({ protocols: ['vnc'], chardevs: ['ch*'] });
    await socketNamed('s1');
    await assert.rejects(qmp.execute('add_client', { protocol: 'spice', fdname: 's1' }), refusedWith("qmpmux: add_client refused for principal 'root': protocol 'spice' is not permitted"));
    await assert.rejects(qmp.execute('add_client', { protocol: '@dbus-display', fdname: 's1' }), refusedWith("qmpmux: add_client refused for principal 'root': protocol '@dbus-display' is not permitted"));
    assert.deepEqual(await qmp.execute('closefd', { fdname: 's1' }), {});
  });

  it('chardev targets by glob: ch0 connects, serial1 and the monitor chardev are refused', async () => {
    await rules({ chardevs: ['ch*'] });
    const chardev = async (label: string) => ((await qmp.execute<{ label: string; filename: string }[]>('query-chardev')).find((c) => c.label === label)!.filename);
    assert.match(await chardev('ch0'), /^disconnected:/);
    await socketNamed('c1');
    assert.deepEqual(await qmp.execute('add_client', { protocol: 'ch0', fdname: 'c1' }), {});
    assert.doesNotMatch(await chardev('ch0'), /^disconnected:/, 'the chardev took the socket');
    assert.equal(decisions()[0]?.fields?.reason, "chardev 'ch0' (matches 'ch*'), skipauth false, tls false, fd 'c1' is a socket");

    await socketNamed('c2');
    await assert.rejects(qmp.execute('add_client', { protocol: 'serial1', fdname: 'c2' }), refusedWith("qmpmux: add_client refused for principal 'root': chardev 'serial1' is not permitted"));
    await assert.rejects(qmp.execute('add_client', { protocol: 'compat_monitor0', fdname: 'c2' }), refusedWith("qmpmux: add_client refused for principal 'root': chardev 'compat_monitor0' is not permitted"));
    assert.match(await chardev('serial1'), /^disconnected:/);
    await rules({ chardevs: ['ch*'], skipauth: 'forbid' });
    await assert.rejects(qmp.execute('add_client', { protocol: 'ch0', fdname: 'c2', skipauth: true }), refusedWith("qmpmux: add_client refused for principal 'root': skipauth is not permitted"));
    await rules({ chardevs: ['serial?'], skipauth: 'allow' });
    assert.deepEqual(await qmp.execute('add_client', { protocol: 'serial1', fdname: 'c2', skipauth: true }), {});
    assert.doesNotMatch(await chardev('serial1'), /^disconnected:/);
  });

  it('a pipe passed with getfd is never handed to add_client, nor is a name qmpmux has not seen', async () => {
    await rules({ protocols: ['vnc'], chardevs: ['*'] });
    const [r, w] = pipe();
    await qmp.execute('getfd', { fdname: 'p1' }, { fds: [w] });
    await assert.rejects(qmp.execute('add_client', { protocol: 'vnc', fdname: 'p1' }), refusedWith("qmpmux: add_client refused for principal 'root': fd 'p1' is a fifo, not a socket"));
    await assert.rejects(qmp.execute('add_client', { protocol: 'ch0', fdname: 'p1' }), refusedWith("qmpmux: add_client refused for principal 'root': fd 'p1' is a fifo, not a socket"));
    assert.deepEqual(await qmp.execute('closefd', { fdname: 'p1' }), {}, 'QEMU still holds the pipe under its name: add_client never reached it');
    closeSync(r);

    await assert.rejects(
      qmp.execute('add_client', { protocol: 'vnc', fdname: 'never-given' }),
      refusedWith("qmpmux: add_client refused for principal 'root': fd 'never-given' was not passed by this client with getfd through qmpmux, so its type is unknown"),
    );
    // A socket replaced under the same name by a pipe: the name now means the pipe.
    await socketNamed('p2');
    const [r2, w2] = pipe();
    await qmp.execute('getfd', { fdname: 'p2' }, { fds: [w2] });
    await assert.rejects(qmp.execute('add_client', { protocol: 'vnc', fdname: 'p2' }), refusedWith("qmpmux: add_client refused for principal 'root': fd 'p2' is a fifo, not a socket"));
    closeSync(r2);
    // closefd forgets the name.
    await socketNamed('p3');
    await qmp.execute('closefd', { fdname: 'p3' });
    await assert.rejects(qmp.execute('add_client', { protocol: 'vnc', fdname: 'p3' }), /was not passed by this client/);
  });

  it('a name is consumed by add_client even when QEMU fails it, and is then unknown', async () => {
    await rules({ chardevs: ['*'] });
    await socketNamed('g1');
    await assert.rejects(qmp.execute('add_client', { protocol: 'nosuchdev', fdname: 'g1' }), (e: unknown) => e instanceof QmpError && e.desc === "protocol 'nosuchdev' is invalid");
    await assert.rejects(qmp.execute('add_client', { protocol: 'ch0', fdname: 'g1' }), /fd 'g1' was not passed by this client/);
  });

  it("another client's fd under the same name is refused (named fds are one list per QEMU monitor)", async () => {
    await rules({ protocols: ['vnc'] });
    await socketNamed('shared');
    const other = await QmpClient.connect(mux.unix);
    const [r, w] = pipe();
    await other.execute('getfd', { fdname: 'shared' }, { fds: [w] });
    closeSync(r);
    await assert.rejects(qmp.execute('add_client', { protocol: 'vnc', fdname: 'shared' }), /fd 'shared' was last given by another client \(\d+\)/);
    await assert.rejects(other.execute('add_client', { protocol: 'vnc', fdname: 'shared' }), /fd 'shared' is a fifo, not a socket/);
    other.close();
  });

  it('options are checked at load, naming the bad field', () => {
    const bad = (o: JsonPlain, path: string, re: RegExp) =>
      assert.throws(
        () => addClientAuthPlugin.validate(o, 'a'),
        (e: unknown) => (e as { path?: string }).path === path && re.test((e as Error).message),
      );
    bad({ principals: { ops: { protocols: ['rdp'] } } }, 'a.principals.ops.protocols[0]', /vnc, spice, @dbus-display/);
    bad({ principals: { ops: { chardevs: ['vnc'] } } }, 'a.principals.ops.chardevs[0]', /is a protocol/);
    bad({ principals: { ops: { skipauth: true } } }, 'a.principals.ops.skipauth', /forbid, allow, require/);
    bad({ principals: { ops: { tls: 'maybe' } } }, 'a.principals.ops.tls', /forbid, allow, require/);
    bad({ principals: { ops: { fdname: 'x' } } }, 'a.principals.ops.fdname', /unknown field/);
  });
});
