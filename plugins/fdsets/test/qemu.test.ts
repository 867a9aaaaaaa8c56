/** The fdsets plugin against a real QEMU, with real fds (pipes and socket pairs). */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClient, QmpError } from '@qmpmux/client';
import { closeFd, pipe, socketpair } from '@qmpmux/unixfd';
import { fdPassingCycles, openFdCount, startProxy, startQemu, useProxy, type TestProxy, type TestQemu } from '@qmpmux/e2e';
import { fdIdentity, fdsets, holds, spy, until, type FdsetInfo } from './helpers.ts';

const OWNERS = '__org.qmpmux_query-fd-owners';

interface Owners {
  names: { client: number; transport: string; pid?: number; principal?: string; name: string; 'upstream-name': string; state: string }[];
  fds: { client: number; transport: string; pid?: number; 'fdset-id': number; fd: number; opaque?: string }[];
}

const desc = (text: string) => (e: unknown) => {
  assert.ok(e instanceof QmpError, `expected a QMP error, got ${String(e)}`);
  assert.equal(e.desc, text);
  return true;
};
const sets = (c: QmpClient) => c.execute<FdsetInfo[]>('query-fdsets');
/** The write end of a fresh pipe to pass, the read end we keep, and the pipe's identity in /proc. */
const freshPipe = () => {
  const [r, w] = pipe();
  return { r, w, id: fdIdentity(w) };
};

describe('fdsets with a real QEMU', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qmpmux-fdsets-'));
  let qemu: TestQemu;
  let mux: TestProxy;
  /** QEMU no longer holds any copy of this pipe. */
  const gone = (p: { id: string }) => !holds(qemu.pid, p.id);
  const plugin = fdsets();
  /** Before fdsets: what clients send. After it: what goes to QEMU. */
  const first = spy('first');
  const watch = spy();
  /** QEMU's second monitor, for comparing with what QEMU says to a client directly. */
  let direct: QmpClient;
  let a: QmpClient;
  let b: QmpClient;

  before(async () => {
    qemu = await startQemu({
      args: ['-chardev', `socket,id=ch0,path=${join(dir, 'ch0.sock')},server=on,wait=off`, '-qmp', `unix:${join(dir, 'direct.qmp')},server=on,wait=off`],
    });
    mux = await startProxy(qemu.address, { plugins: [first.spec, plugin.spec, watch.spec] });
    direct = await QmpClient.connect(`unix:${join(dir, 'direct.qmp')}`);
    a = await QmpClient.connect(mux.unix);
    b = await QmpClient.connect(mux.unix);
  });
  after(async () => {
    a?.close();
    b?.close();
    direct?.close();
    await mux?.stop();
    await qemu?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Client ids as the proxy numbers them, by connection order. */
  const ids = () => [...mux.proxy.clients.keys()];

  it('the same name from two clients is two different fds in QEMU', async () => {
    const pa = freshPipe();
    const pb = freshPipe();
    assert.deepEqual(await a.execute('getfd', { fdname: 'fd1' }, { fds: [pa.w] }), {});
    assert.deepEqual(await b.execute('getfd', { fdname: 'fd1' }, { fds: [pb.w] }), {});
    assert.ok(holds(qemu.pid, pa.id), "QEMU holds A's pipe");
    assert.ok(holds(qemu.pid, pb.id), "QEMU holds B's pipe: B's getfd did not replace A's");
    const owners = await a.execute<Owners>(OWNERS);
    const fd1 = owners.names.filter((n) => n.name === 'fd1');
    assert.equal(fd1.length, 2);
    const [idA, idB] = ids();
    assert.deepEqual(
      fd1.map((n) => [n.client, n.state, n.transport, n.pid]),
      [
        [idA, 'defined', 'unix', process.pid],
        [idB, 'defined', 'unix', process.pid],
      ],
    );
    assert.notEqual(fd1[0]!['upstream-name'], fd1[1]!['upstream-name']);

    // closefd by one leaves the other's in place, and usable.
    assert.deepEqual(await a.execute('closefd', { fdname: 'fd1' }), {});
    assert.ok(gone(pa), "QEMU closed A's pipe");
    assert.ok(holds(qemu.pid, pb.id), "B's pipe is untouched");
    await assert.rejects(a.execute('closefd', { fdname: 'fd1' }), desc("File descriptor named 'fd1' not found"));
    assert.deepEqual(await b.execute('closefd', { fdname: 'fd1' }), {});
    assert.ok(gone(pb));
    closeFd(pa.r);
    closeFd(pb.r);
    assert.deepEqual((await a.execute<Owners>(OWNERS)).names, []);
  });

  it("add_client takes a client's socket by its own name ({}), the name is then gone, and another client's same name stays", async () => {
    const [mine, peer] = socketpair();
    const mineId = fdIdentity(mine);
    const other = freshPipe();
    await a.execute('getfd', { fdname: 'conn' }, { fds: [other.w] });
    await b.execute('getfd', { fdname: 'conn' }, { fds: [mine] });
    assert.deepEqual(await b.execute('add_client', { protocol: 'ch0', fdname: 'conn' }), {});
    assert.ok(holds(qemu.pid, mineId), 'the chardev holds the socket');
    await assert.rejects(b.execute('closefd', { fdname: 'conn' }), desc("File descriptor named 'conn' not found"));
    assert.deepEqual(
      (await b.execute<Owners>(OWNERS)).names.map((n) => [n.client, n.name]),
      [[ids()[0], 'conn']],
    );
    assert.deepEqual(await a.execute('closefd', { fdname: 'conn' }), {}, "A's fd of the same name was not the one taken");
    assert.ok(gone(other));
    closeFd(other.r);
    closeFd(peer);
  });

  it("a name one client defined does not exist for another (QEMU's own not-found text)", async () => {
    const p = freshPipe();
    await a.execute('getfd', { fdname: 'secret' }, { fds: [p.w] });
    await assert.rejects(b.execute('add_client', { protocol: 'ch0', fdname: 'secret' }), desc("File descriptor named 'secret' has not been found"));
    assert.ok(holds(qemu.pid, p.id), "A's fd was not taken");
    await a.execute('closefd', { fdname: 'secret' });
    closeFd(p.r);
  });

  it('names that start with a digit go to QEMU unchanged', async () => {
    const p = freshPipe();
    // Renamed, QEMU would have accepted it; unchanged, QEMU refuses it (and closes the fd).
    await assert.rejects(a.execute('getfd', { fdname: '1x' }, { fds: [p.w] }), desc("Parameter 'fdname' expects a name not starting with a digit"));
    assert.ok(gone(p));
    closeFd(p.r);
    watch.seen.length = 0;
    await assert.rejects(a.execute('add_client', { protocol: 'ch0', fdname: '12' }), desc("File descriptor named '12' has not been found"));
    await assert.rejects(a.execute('netdev_add', { type: 'tap', id: 'tap9', fds: 'x:7' }));
    const [idA] = ids();
    const epoch = plugin.instance().epoch;
    assert.deepEqual(
      watch.seen.map((s) => s.arguments),
      [
        { protocol: 'ch0', fdname: '12' },
        { type: 'tap', id: 'tap9', fds: `c${idA}.${epoch}-x:7` },
      ],
    );
  });

  it('QEMU texts that name an fd come back with the client name, exactly as QEMU says them to a direct client', async () => {
    const cases: [string, Record<string, unknown>][] = [
      ['closefd', { fdname: 'nope' }],
      ['add_client', { protocol: 'ch0', fdname: 'nope' }],
      ['netdev_add', { type: 'socket', id: 'ns', fd: 'nope' }],
      ['netdev_add', { type: 'tap', id: 'nt', fds: 'nope:nope2' }],
      ['netdev_add', { type: 'dgram', id: 'nd', local: { type: 'fd', str: 'nope' } }],
      ['chardev-add', { id: 'cx', backend: { type: 'socket', data: { addr: { type: 'fd', data: { str: 'nope' } } } } }],
      ['nbd-server-start', { addr: { type: 'fd', data: { str: 'nope' } } }],
      ['blockdev-add', { driver: 'nbd', 'node-name': 'nb', server: { type: 'fd', str: 'nope' }, export: 'e' }],
      ['migrate', { uri: 'fd:nope' }],
      ['dump-guest-memory', { paging: false, protocol: 'fd:nope' }],
    ];
    for (const [command, args] of cases) {
      const want = await direct.execute(command, args as never).then(
        () => assert.fail(`${command} succeeded directly`),
        (e: QmpError) => e,
      );
      assert.match(want.desc, /nope/, `${command}: QEMU's text names the fd`);
      await assert.rejects(a.execute(command, args as never), (e: unknown) => {
        assert.ok(e instanceof QmpError);
        assert.deepEqual([e.cls, e.desc], [want.cls, want.desc], command);
        return true;
      });
    }
    // A text that names an fd QEMU does hold: "is not a socket".
    const p = freshPipe();
    await a.execute('getfd', { fdname: 'notsock' }, { fds: [p.w] });
    await assert.rejects(
      a.execute('chardev-add', { id: 'cy', backend: { type: 'socket', data: { addr: { type: 'fd', data: { str: 'notsock' } } } } }),
      desc("Failed to add chardev 'cy': File descriptor 'notsock' is not a socket"),
    );
    // ... and the consumer took the name, even though it failed (QEMU's rule).
    assert.ok(gone(p));
    closeFd(p.r);
    await assert.rejects(a.execute('closefd', { fdname: 'notsock' }), desc("File descriptor named 'notsock' not found"));
  });

  it('a getfd from TCP gets QEMU\'s error and leaves no name behind', async () => {
    const t = await QmpClient.connect(mux.tcp);
    await assert.rejects(t.execute('getfd', { fdname: 'x' }), desc('No file descriptor supplied via SCM_RIGHTS'));
    assert.deepEqual((await t.execute<Owners>(OWNERS)).names, []);
    t.close();
  });

  it('fd commands sent with exec-oob are refused by QEMU unrun, and the bookkeeping stays as it was', async () => {
    const o = await QmpClient.connect(mux.unix, { oob: true });
    const p = freshPipe();
    const q = freshPipe();
    await o.execute('getfd', { fdname: 'o' }, { fds: [p.w] });
    await assert.rejects(o.execute('getfd' as string, { fdname: 'o2' }, { fds: [q.w], oob: true }), desc('The command getfd does not support OOB'));
    await assert.rejects(o.execute('closefd' as string, { fdname: 'o' }, { oob: true }), desc('The command closefd does not support OOB'));
    const mine = (await o.execute<Owners>(OWNERS)).names.filter((n) => n.client === ids().at(-1));
    assert.deepEqual(
      mine.map((n) => [n.name, n.state]),
      [['o', 'defined']],
    );
    await until(() => gone(q), 'the refused fd closed');
    assert.ok(!gone(p));
    assert.deepEqual(await o.execute('closefd', { fdname: 'o' }), {});
    assert.ok(gone(p));
    closeFd(p.r);
    closeFd(q.r);
    o.close();
  });

  it('add-fd: a chosen fdset-id is honoured, QEMU allocates otherwise, opaque reads back as given', async () => {
    const before = await sets(a);
    const free = (() => {
      for (let i = 0; ; i++) if (!before.some((s) => s['fdset-id'] === i)) return i;
    })();
    const p1 = freshPipe();
    const p2 = freshPipe();
    const r1 = await a.execute<{ fd: number; 'fdset-id': number }>('add-fd', { 'fdset-id': 31, opaque: 'a:b' }, { fds: [p1.w] });
    const r2 = await a.execute<{ fd: number; 'fdset-id': number }>('add-fd', {}, { fds: [p2.w] });
    assert.equal(r1['fdset-id'], 31);
    assert.equal(r2['fdset-id'], free);
    const view = await b.execute<FdsetInfo[]>('query-fdsets');
    assert.deepEqual(view.find((s) => s['fdset-id'] === 31)?.fds, [{ fd: r1.fd, opaque: 'a:b' }]);
    assert.deepEqual(view.find((s) => s['fdset-id'] === free)?.fds, [{ fd: r2.fd }], 'no opaque when none was given');
    // What a direct client sees in QEMU carries the owner tag (this is how qmpmux finds it again).
    const raw = await direct.execute<FdsetInfo[]>('query-fdsets');
    assert.match(raw.find((s) => s['fdset-id'] === 31)!.fds[0]!.opaque!, /^qmpmux:[0-9a-z]+:\d+:a:b$/);
    await a.execute('remove-fd', { 'fdset-id': 31 });
    await a.execute('remove-fd', { 'fdset-id': free, fd: r2.fd });
    assert.ok(gone(p1) && gone(p2));
    closeFd(p1.r);
    closeFd(p2.r);
  });

  it("remove-fd of another client's fd, or of a set holding one, is refused; one's own works", async () => {
    const pa = freshPipe();
    const pb = freshPipe();
    const ra = await a.execute<{ fd: number }>('add-fd', { 'fdset-id': 40 }, { fds: [pa.w] });
    const rb = await b.execute<{ fd: number }>('add-fd', { 'fdset-id': 40 }, { fds: [pb.w] });
    await assert.rejects(
      b.execute('remove-fd', { 'fdset-id': 40, fd: ra.fd }),
      desc(`qmpmux: fd ${ra.fd} in fd set 40 was not added by this client, and removing other clients' fds is not allowed`),
    );
    await assert.rejects(
      b.execute('remove-fd', { 'fdset-id': 40 }),
      desc("qmpmux: fd set 40 holds 1 fd(s) this client did not add, and removing other clients' fds is not allowed; remove this client's fds one by one"),
    );
    assert.ok(holds(qemu.pid, pa.id) && holds(qemu.pid, pb.id), 'nothing was removed');
    // QEMU's own answers where there is nothing to refuse.
    await assert.rejects(b.execute('remove-fd', { 'fdset-id': 40, fd: 9999 }), desc("File descriptor named 'fdset-id:40, fd:9999' not found"));
    await assert.rejects(b.execute('remove-fd', { 'fdset-id': 4040 }), desc("File descriptor named 'fdset-id:4040' not found"));
    await assert.rejects(b.execute('remove-fd', { 'fdset-id': 'x' as never }), desc("Invalid parameter type for 'fdset-id', expected: integer"));
    assert.deepEqual(await b.execute('remove-fd', { 'fdset-id': 40, fd: rb.fd }), {});
    assert.deepEqual(await a.execute('remove-fd', { 'fdset-id': 40 }), {}, 'the set now holds only A’s fd');
    assert.ok(gone(pa) && gone(pb));
    closeFd(pa.r);
    closeFd(pb.r);
    assert.equal((await sets(a)).find((s) => s['fdset-id'] === 40), undefined);
  });

  it('the owners query lists who holds which name and fd', async () => {
    const p1 = freshPipe();
    const p2 = freshPipe();
    await a.execute('getfd', { fdname: 'mine' }, { fds: [p1.w] });
    const r = await b.execute<{ fd: number }>('add-fd', { 'fdset-id': 50, opaque: 'o' }, { fds: [p2.w] });
    const [idA, idB] = ids();
    const epoch = plugin.instance().epoch;
    const owners = await a.execute<Owners>(OWNERS);
    const who = (client: number) => ({ client, transport: 'unix', pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    const withoutAddress = (e: object) => {
      const { address, ...rest } = e as { address: unknown };
      assert.equal(typeof address, 'string');
      return rest;
    };
    assert.deepEqual(owners.names.map(withoutAddress), [{ ...who(idA), name: 'mine', 'upstream-name': `c${idA}.${epoch}-mine`, state: 'defined' }]);
    assert.deepEqual(owners.fds.map(withoutAddress), [{ ...who(idB), 'fdset-id': 50, fd: r.fd, opaque: 'o' }]);
    await assert.rejects(a.execute(OWNERS, { x: 1 }), desc("Parameter 'x' is unexpected"));
    assert.ok((await a.execute<{ name: string }[]>('query-commands')).some((c) => c.name === OWNERS), 'listed in query-commands');
    await a.execute('closefd', { fdname: 'mine' });
    await b.execute('remove-fd', { 'fdset-id': 50, fd: r.fd });
    closeFd(p1.r);
    closeFd(p2.r);
    assert.deepEqual(await a.execute<Owners>(OWNERS), { names: [], fds: [] });
  });

  it("a client that leaves loses its names and fds; another client's stay", async () => {
    const c = await QmpClient.connect(mux.unix);
    const pc = [freshPipe(), freshPipe(), freshPipe()];
    const pb = freshPipe();
    const pbName = freshPipe();
    const pcName = freshPipe();
    await c.execute('add-fd', { 'fdset-id': 60 }, { fds: [pc[0]!.w] });
    await c.execute('add-fd', { 'fdset-id': 60 }, { fds: [pc[1]!.w] });
    await c.execute('add-fd', {}, { fds: [pc[2]!.w] });
    await c.execute('getfd', { fdname: 'n' }, { fds: [pcName.w] });
    const rb = await b.execute<{ fd: number }>('add-fd', { 'fdset-id': 60 }, { fds: [pb.w] });
    await b.execute('getfd', { fdname: 'n' }, { fds: [pbName.w] });
    const held = plugin.instance().held().clients;
    c.close();
    await until(() => plugin.instance().held().clients === held - 1, "the departed client's cleanup");
    for (const p of [...pc, pcName]) {
      assert.ok(gone(p), 'QEMU closed the departed client’s fd');
      closeFd(p.r);
    }
    assert.deepEqual((await sets(b)).find((s) => s['fdset-id'] === 60)?.fds, [{ fd: rb.fd }]);
    assert.ok(holds(qemu.pid, pb.id) && holds(qemu.pid, pbName.id));
    await b.execute('remove-fd', { 'fdset-id': 60 });
    await b.execute('closefd', { fdname: 'n' });
    closeFd(pb.r);
    closeFd(pbName.r);
  });

  it('an add-fd or getfd whose client leaves before the reply reaches it is undone all the same', async () => {
    for (const command of ['add-fd', 'getfd']) {
      const c = await QmpClient.connect(mux.unix);
      const id = ids().at(-1)!;
      const p = freshPipe();
      let replied = false;
      watch.onReply = async (r, ctx) => {
        if (r.command.client.id !== id || r.command.command !== command) return;
        replied = 'return' in r.result();
        ctx.proxy.disconnect(id, 'test: leaves while the reply is on its way'); // fdsets sees this reply only after
        await sleep(20);
      };
      const sent = c.execute(command, command === 'getfd' ? { fdname: 'late' } : { 'fdset-id': 70 }, { fds: [p.w] }).catch(() => undefined);
      await until(() => replied, `QEMU ran ${command}`);
      await sent;
      await until(() => gone(p), `QEMU closed the fd of the late ${command}`);
      watch.onReply = undefined;
      closeFd(p.r);
      c.close();
    }
    assert.equal((await sets(a)).find((s) => s['fdset-id'] === 70), undefined);
  });

  it('a command whose client left while earlier hooks ran leaves no bookkeeping behind', async () => {
    const c = await QmpClient.connect(mux.unix);
    const id = ids().at(-1)!;
    const before = plugin.instance().held();
    first.onCommand = async (cmd, ctx) => {
      if (cmd.client.id !== id) return;
      ctx.proxy.disconnect(id, 'test: leaves while a command is in the hooks');
      await sleep(20); // fdsets' departure hook runs now, before fdsets sees the command
    };
    const p = freshPipe();
    await assert.rejects(c.execute('getfd', { fdname: 'orphan' }, { fds: [p.w] }));
    await until(() => !mux.proxy.clients.has(id), 'disconnected');
    await sleep(50);
    first.onCommand = undefined;
    assert.deepEqual(plugin.instance().held(), before);
    assert.ok(gone(p), 'the fd never reached QEMU');
    closeFd(p.r);
    c.close();
  });

  it('1000 getfd/closefd and add-fd/remove-fd cycles, and clients leaving with fds: open fds flat, bookkeeping empty', async () => {
    a.close();
    b.close();
    await until(() => mux.proxy.clients.size === 0 && plugin.instance().held().clients === 0, 'A and B gone');
    // This process runs qmpmux and its clients: its count covers both.
    const baseline = { mux: openFdCount(), qemu: openFdCount(qemu.pid) };
    const c = await QmpClient.connect(mux.unix);
    await fdPassingCycles(c, 1000, [80, 81, 82]);
    for (let i = 0; i < 20; i++) {
      const d = await QmpClient.connect(mux.unix);
      for (let k = 0; k < 3; k++) {
        const [r, w] = pipe();
        closeFd(r);
        await d.execute('getfd', { fdname: `left${k}` }, { fds: [w] });
        const [r2, w2] = pipe();
        closeFd(r2);
        await d.execute('add-fd', k ? {} : { 'fdset-id': 90 }, { fds: [w2] });
      }
      d.close();
    }
    c.close();
    await until(() => mux.proxy.clients.size === 0 && plugin.instance().held().clients === 0, 'every client gone and cleaned up', 10_000);
    assert.deepEqual(plugin.instance().held(), { clients: 0, names: 0, fds: 0 });
    assert.deepEqual(await direct.execute('query-fdsets'), [], 'QEMU holds no fd set');
    await until(() => openFdCount(qemu.pid) === baseline.qemu && openFdCount() === baseline.mux, 'open-fd counts back to the baseline').catch(() => {});
    assert.deepEqual({ mux: openFdCount(), qemu: openFdCount(qemu.pid) }, baseline);
  });
});

describe('fdsets with ownFdsetsOnly and allowForeignRemove', () => {
  /** QEMU no longer holds any copy of this pipe. */
  const gone = (p: { id: string }) => !holds(qemu.pid, p.id);
  const plugin = fdsets({ ownFdsetsOnly: true, allowForeignRemove: true });
  const { qemu, mux } = useProxy({ plugins: [plugin.spec] });

  it("query-fdsets lists only the client's own fds, and only sets holding some; remove-fd of others' fds is allowed", async () => {
    const a = await QmpClient.connect(mux.unix);
    const b = await QmpClient.connect(mux.unix);
    const pa = [freshPipe(), freshPipe()];
    const pb = freshPipe();
    const a1 = await a.execute<{ fd: number }>('add-fd', { 'fdset-id': 1, opaque: 'x' }, { fds: [pa[0]!.w] });
    const a2 = await a.execute<{ fd: number }>('add-fd', { 'fdset-id': 2 }, { fds: [pa[1]!.w] });
    const b1 = await b.execute<{ fd: number }>('add-fd', { 'fdset-id': 1 }, { fds: [pb.w] });
    assert.deepEqual(await sets(a), [
      { fds: [{ fd: a2.fd }], 'fdset-id': 2 },
      { fds: [{ fd: a1.fd, opaque: 'x' }], 'fdset-id': 1 },
    ]);
    assert.deepEqual(await sets(b), [{ fds: [{ fd: b1.fd }], 'fdset-id': 1 }]);
    assert.deepEqual(await b.execute('remove-fd', { 'fdset-id': 1 }), {}, "allowed: removes A's fd too");
    assert.deepEqual(await sets(a), [{ fds: [{ fd: a2.fd }], 'fdset-id': 2 }]);
    assert.deepEqual(await b.execute('remove-fd', { 'fdset-id': 2, fd: a2.fd }), {});
    assert.deepEqual(await sets(a), []);
    assert.deepEqual(plugin.instance().held().fds, 0, 'records follow removals by others');
    for (const p of [...pa, pb]) {
      assert.ok(gone(p));
      closeFd(p.r);
    }
    a.close();
    b.close();
    await until(() => plugin.instance().held().clients === 0, 'cleanup');
  });
});

describe('fdsets when the link to QEMU drops and comes back', () => {
  const plugin = fdsets();
  const { qemu, mux } = useProxy({ plugins: [plugin.spec], limits: { reconnectMinMs: 20, reconnectMaxMs: 100 } });

  it("names of clients that left while the link was down are closed once it is back (the same QEMU still held them)", async () => {
    const baseline = openFdCount(qemu.pid);
    const c = await QmpClient.connect(mux.unix);
    const p = freshPipe();
    await c.execute('getfd', { fdname: 'kept' }, { fds: [p.w] });
    assert.ok(holds(qemu.pid, p.id), 'QEMU holds the named fd');
    // The link drops, QEMU stays: every client is closed, and its cleanup cannot reach QEMU now.
    (mux.proxy.link as unknown as { conn: { destroy(): void } }).conn.destroy();
    await until(() => c.closed && plugin.instance().held().clients === 0, 'the client closed and its ledger gone');
    await until(() => mux.proxy.link.state === 'ready' && plugin.instance().orphans === 0, 'reconnected and swept', 10_000);
    await until(() => !holds(qemu.pid, p.id) && openFdCount(qemu.pid) === baseline, 'QEMU no longer holds the fd');
    closeFd(p.r);
  });
});
