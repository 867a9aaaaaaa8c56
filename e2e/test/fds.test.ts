/** fds passed by clients reach QEMU with the command that takes them, and never leak. Real QEMU, real fds. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, readSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClient, QmpError } from '@qmpmux/client';
import { pipe, socketpair, closeFd } from '@qmpmux/unixfd';
import { fdPassingCycles, openFdCount, RawClient, useProxy } from '../src/index.ts';

const fdsOf = async (c: QmpClient) => (await c.execute('query-fdsets')) as { 'fdset-id': number; fds: { fd: number; opaque?: string }[] }[];

describe('fd passing through qmpmux (core)', () => {
  const { qemu, mux } = useProxy();

  it('add-fd with a pipe fd: QEMU holds a working copy of it', async () => {
    const c = await QmpClient.connect(mux.unix);
    const [r, w] = pipe();
    const ret = (await c.execute('add-fd', { 'fdset-id': 7, opaque: 'hello' }, { fds: [w] })) as { fd: number; 'fdset-id': number };
    assert.equal(ret['fdset-id'], 7);
    // QEMU's copy is the write end of our pipe: writing through /proc reaches our read end.
    const viaQemu = openSync(`/proc/${qemu.pid}/fd/${ret.fd}`, 'w');
    writeSync(viaQemu, 'ping');
    const buf = Buffer.alloc(4);
    assert.equal(readSync(r, buf), 4);
    assert.equal(buf.toString(), 'ping');
    closeFd(viaQemu);
    closeFd(r);
    assert.deepEqual((await fdsOf(c)).find((s) => s['fdset-id'] === 7)?.fds, [{ fd: ret.fd, opaque: 'hello' }]);
    await c.execute('remove-fd', { 'fdset-id': 7 });
    c.close();
  });

  it('getfd then closefd; a second getfd without an fd gets QEMU\'s own error', async () => {
    const c = await QmpClient.connect(mux.unix);
    const [a, b] = socketpair();
    assert.deepEqual(await c.execute('getfd', { fdname: 'sock1' }, { fds: [a] }), {});
    closeFd(b);
    await assert.rejects(c.execute('getfd', { fdname: 'sock2' }), (e: QmpError) => e.desc === 'No file descriptor supplied via SCM_RIGHTS');
    assert.deepEqual(await c.execute('closefd', { fdname: 'sock1' }), {});
    await assert.rejects(c.execute('closefd', { fdname: 'sock1' }), (e: QmpError) => e.desc === "File descriptor named 'sock1' not found");
    c.close();
  });

  it('TCP clients get QEMU\'s exact error for fd-taking commands', async () => {
    const c = await QmpClient.connect(mux.tcp);
    await assert.rejects(c.execute('getfd', { fdname: 'x' }), (e: QmpError) => e.cls === 'GenericError' && e.desc === 'No file descriptor supplied via SCM_RIGHTS');
    await assert.rejects(c.execute('add-fd'), (e: QmpError) => e.desc === 'No file descriptor supplied via SCM_RIGHTS');
    c.close();
  });

  it('an fd sent with a command that takes none stays with that client for its next getfd, as QEMU does', async () => {
    const c = await QmpClient.connect(mux.unix);
    const other = await QmpClient.connect(mux.unix);
    const [r, w] = pipe();
    closeFd(r);
    await c.execute('query-status', undefined, { fds: [w] });
    // Another client's fd-taking command must not see it.
    await assert.rejects(other.execute('add-fd', { 'fdset-id': 9 }), (e: QmpError) => e.desc === 'No file descriptor supplied via SCM_RIGHTS');
    const ret = (await c.execute('add-fd', { 'fdset-id': 9 })) as { fd: number };
    assert.ok(ret.fd > 2);
    await c.execute('remove-fd', { 'fdset-id': 9 });
    c.close();
    other.close();
  });

  it('three fds in one message: the first is taken, the others are closed', async () => {
    const c = await QmpClient.connect(mux.unix);
    const pipes = [pipe(), pipe(), pipe()];
    const before = openFdCount(qemu.pid);
    const ret = (await c.execute('add-fd', { 'fdset-id': 11 }, { fds: pipes.map((p) => p[1]) })) as { fd: number };
    assert.equal(openFdCount(qemu.pid), before + 1, 'QEMU holds exactly one new fd');
    // The first write end went to QEMU; the other two were closed, so their read ends see EOF.
    for (const [i, [rd]] of pipes.entries()) {
      if (i === 0) continue;
      assert.equal(readSync(rd, Buffer.alloc(1)), 0, `pipe ${i} write end closed`);
    }
    for (const [rd] of pipes) closeFd(rd);
    await c.execute('remove-fd', { 'fdset-id': 11, fd: ret.fd });
    c.close();
  });

  it('a failed fd-taking command leaves nothing pending upstream for another client', async () => {
    const a = await QmpClient.connect(mux.unix);
    const b = await QmpClient.connect(mux.unix);
    const [r, w] = pipe();
    closeFd(r);
    // An argument error: QEMU never takes the fd, which would stay pending on the shared monitor.
    await assert.rejects(a.execute('getfd', { fdname: 5 as never }, { fds: [w] }), (e: QmpError) => /Invalid parameter type for 'fdname'/.test(e.desc));
    await assert.rejects(b.execute('getfd', { fdname: 'stolen' }), (e: QmpError) => e.desc === 'No file descriptor supplied via SCM_RIGHTS');
    a.close();
    b.close();
  });

  it('fds with no command, then disconnect; and 1000 fd-passing cycles: open-fd counts stay flat', async () => {
    const c0 = await QmpClient.connect(mux.unix);
    await c0.execute('query-status');
    c0.close();
    await sleep(50);
    const before = { mux: openFdCount(), qemu: openFdCount(qemu.pid) };
    for (let i = 0; i < 50; i++) {
      const raw = await RawClient.connect(mux.unix);
      await raw.count(1);
      const [r, w] = pipe();
      closeFd(r);
      raw.send(' ', [w]); // an fd and no command at all
      raw.conn.destroy();
    }
    const c = await QmpClient.connect(mux.unix);
    await fdPassingCycles(c, 1000, [20]);
    c.close();
    const deadline = Date.now() + 5000;
    while (mux.proxy.clients.size && Date.now() < deadline) await sleep(10);
    await sleep(100);
    assert.deepEqual({ mux: openFdCount(), qemu: openFdCount(qemu.pid) }, before);
  });

  it('a misbehaving peer (250 fds, a closed fd, garbage with fds) never crashes qmpmux', async () => {
    const raw = await RawClient.connect(mux.unix);
    await raw.count(1);
    const many = Array.from({ length: 125 }, () => pipe()).flat();
    raw.send('{"execute":"qmp_capabilities"}', many);
    await raw.count(2);
    raw.send('\x01\xff{{{garbage', [pipe()[1]]);
    raw.send('\x01'); // QEMU's documented resync: the partial object is dropped
    raw.send('{"execute":"add-fd","arguments":{"fdset-id":30}}');
    await raw.until(() => raw.messages.some((m) => JSON.stringify(m.value).includes('fdset-id') || /SCM_RIGHTS/.test(m.raw)), 5000, 'add-fd reply');
    raw.conn.destroy();
    const c = await QmpClient.connect(mux.unix);
    assert.equal(((await c.execute('query-status')) as { status: string }).status, 'running');
    const sets = await fdsOf(c);
    for (const s of sets) await c.execute('remove-fd', { 'fdset-id': s['fdset-id'] });
    c.close();
  });
});
