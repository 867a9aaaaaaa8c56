import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UnixServer, UnixSocket, openFdCount } from '../src/index.ts';
import { native } from '../src/native.ts';
import { delay, makePair, readBytes, tmpDir } from './helpers.ts';

const tmp = tmpDir();
after(() => tmp.cleanup());

describe('data', () => {
  test('connect and data both ways', async () => {
    const p = await makePair(tmp.dir);
    try {
      assert.equal(p.client.write(Buffer.from('ping')), true);
      assert.equal((await readBytes(p.server, 4)).data.toString(), 'ping');
      p.server.write(Buffer.from('pong'));
      const got = await readBytes(p.client, 4);
      assert.equal(got.data.toString(), 'pong');
      assert.deepEqual(got.fds, [[]]);
    } finally {
      await p.close();
    }
  });

  test('a 1 MiB write arrives intact, queues, drains', async () => {
    const p = await makePair(tmp.dir);
    try {
      const payload = randomBytes(1024 * 1024);
      const ok = p.client.write(payload);
      // the kernel takes ~200 KiB at once: the rest is queued and write() reports backpressure
      assert.equal(ok, false);
      assert.ok(p.client.writableLength > 0 && p.client.writableLength < payload.length);
      const drained = once(p.client, 'drain');
      const got = await readBytes(p.server, payload.length);
      await drained;
      assert.equal(p.client.writableLength, 0);
      assert.equal(got.data.length, payload.length);
      assert.equal(createHash('sha256').update(got.data).digest('hex'), createHash('sha256').update(payload).digest('hex'));
    } finally {
      await p.close();
    }
  });

  test('many small writes keep their order', async () => {
    const p = await makePair(tmp.dir);
    try {
      const parts: Buffer[] = [];
      for (let i = 0; i < 5000; i++) parts.push(Buffer.from(`${i},`));
      for (const b of parts) p.client.write(b);
      const all = Buffer.concat(parts);
      assert.deepEqual((await readBytes(p.server, all.length)).data, all);
    } finally {
      await p.close();
    }
  });

  test('peer credentials are this process', async () => {
    const p = await makePair(tmp.dir);
    try {
      const me = { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() };
      assert.deepEqual({ ...p.client.peer }, me);
      assert.deepEqual({ ...p.server.peer }, me);
    } finally {
      await p.close();
    }
  });

  test('pause() stops data events, resume() delivers what arrived meanwhile', async () => {
    const p = await makePair(tmp.dir);
    try {
      const seen: string[] = [];
      p.server.on('data', (d) => seen.push(d.toString()));
      p.server.resume();
      p.client.write(Buffer.from('one'));
      await delay(50);
      assert.deepEqual(seen, ['one']);
      p.server.pause();
      p.client.write(Buffer.from('two'));
      await delay(100);
      assert.deepEqual(seen, ['one'], 'no data while paused');
      p.server.resume();
      await delay(50);
      assert.deepEqual(seen, ['one', 'two']);
    } finally {
      await p.close();
    }
  });

  test('end() flushes queued data, then the peer sees EOF', async () => {
    const p = await makePair(tmp.dir);
    try {
      const payload = randomBytes(512 * 1024);
      p.client.write(payload);
      assert.ok(p.client.writableLength > 0);
      const clientClosed = once(p.client, 'close');
      p.client.end();
      assert.equal(p.client.write(Buffer.from('late')), false, 'write after end is refused');
      const ended = once(p.server, 'end');
      const closed = once(p.server, 'close');
      const got = await readBytes(p.server, payload.length);
      p.server.resume();
      await ended;
      await closed;
      await clientClosed;
      assert.ok(got.data.equals(payload));
    } finally {
      await p.close();
    }
  });
});

describe('lifecycle', () => {
  test("'close' fires exactly once on peer EOF, after 'end'", async () => {
    const p = await makePair(tmp.dir);
    try {
      const events: string[] = [];
      p.server.on('end', () => events.push('end'));
      p.server.on('close', (err) => events.push(`close:${err === undefined ? 'ok' : err.message}`));
      p.server.resume();
      p.client.destroy();
      await once(p.server, 'close');
      await delay(30);
      assert.deepEqual(events, ['end', 'close:ok']);
      assert.equal(p.server.closed, true);
      assert.equal(p.server.fd, -1);
    } finally {
      await p.close();
    }
  });

  test("'close' fires exactly once on destroy, asynchronously, and nothing after it", async () => {
    const p = await makePair(tmp.dir);
    try {
      let closes = 0;
      let datas = 0;
      p.client.on('close', () => closes++);
      p.client.on('data', () => datas++);
      p.server.write(Buffer.from('pending data that must not be delivered'));
      p.client.resume();
      const fd = p.client.fd;
      p.client.destroy();
      p.client.destroy();
      assert.equal(closes, 0, 'close is asynchronous');
      assert.equal(p.client.fd, -1);
      assert.equal(p.client.closed, true);
      p.client.resume(); // no effect after destroy
      p.client.pause();
      assert.equal(p.client.write(Buffer.from('x')), false);
      await delay(50);
      assert.equal(closes, 1);
      assert.equal(datas, 0);
      assert.equal(native().fdType(fd), 'closed', 'the fd was released');
    } finally {
      await p.close();
    }
  });

  test("destroy() inside a 'data' handler stops delivery safely", async () => {
    const p = await makePair(tmp.dir);
    try {
      // Enough data for several 64 KiB reads in one poll callback.
      for (let i = 0; i < 8; i++) p.client.write(randomBytes(64 * 1024));
      await delay(20);
      let datas = 0;
      let closes = 0;
      p.server.on('data', () => {
        datas++;
        p.server.destroy();
        p.server.destroy();
      });
      p.server.on('close', () => closes++);
      p.server.resume();
      await once(p.server, 'close');
      await delay(20);
      assert.equal(datas, 1);
      assert.equal(closes, 1);
    } finally {
      await p.close();
    }
  });

  test('a write to a peer that closed gives close(err), never a crash', async () => {
    const p = await makePair(tmp.dir);
    try {
      p.server.destroy();
      await once(p.server, 'close');
      // client stays paused, so the EOF is not read: the write sees the dead peer
      const closed = once(p.client, 'close') as Promise<[Error | undefined]>;
      assert.equal(p.client.write(Buffer.from('anyone there?')), false);
      const [err] = await closed;
      assert.ok(err instanceof Error);
      assert.equal((err as NodeJS.ErrnoException).code, 'EPIPE');
      assert.equal((err as NodeJS.ErrnoException).syscall, 'write');
    } finally {
      await p.close();
    }
  });

  test('a queued write whose peer goes away closes with an error', async () => {
    const p = await makePair(tmp.dir);
    try {
      p.client.write(randomBytes(2 * 1024 * 1024)); // more than the socket buffers hold
      assert.ok(p.client.writableLength > 0);
      const closed = once(p.client, 'close') as Promise<[Error | undefined]>;
      p.server.destroy(); // with unread data: the client's socket gets ECONNRESET/EPIPE
      const [err] = await closed;
      assert.ok(err instanceof Error, 'closed with an error');
      assert.match((err as NodeJS.ErrnoException).code ?? '', /^(EPIPE|ECONNRESET)$/);
    } finally {
      await p.close();
    }
  });

  test('connect() to a missing path rejects with ENOENT', async () => {
    await assert.rejects(UnixSocket.connect(join(tmp.dir, 'nope.sock')), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'ENOENT');
      assert.equal(err.syscall, 'connect');
      return true;
    });
  });

  test('connect() to a dead socket file rejects with ECONNREFUSED', async () => {
    const path = join(tmp.dir, 'dead.sock');
    const fd = native().listen(path, 1, -1);
    assert.ok(fd >= 0);
    native().close(fd); // leaves the socket file behind, like a crashed server
    await assert.rejects(UnixSocket.connect(path), { code: 'ECONNREFUSED' });
  });

  test('UnixSocket cannot be constructed half-initialised from outside', () => {
    const Ctor = UnixSocket as unknown as new (...args: unknown[]) => unknown;
    assert.throws(() => new Ctor(Symbol('x'), 0, { pid: 0, uid: 0, gid: 0 }), TypeError);
  });

  test('a throwing listener becomes an uncaught exception, the socket keeps working', async () => {
    const p = await makePair(tmp.dir);
    const saved = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    const caught: unknown[] = [];
    process.on('uncaughtException', (e) => caught.push(e));
    try {
      const seen: string[] = [];
      p.server.on('data', (d) => {
        seen.push(d.toString());
        if (seen.length === 1) throw new Error('listener bug');
      });
      p.server.resume();
      p.client.write(Buffer.from('a'));
      await delay(30);
      p.client.write(Buffer.from('b'));
      await delay(30);
      assert.deepEqual(seen, ['a', 'b']);
      assert.equal(caught.length, 1);
      assert.equal((caught[0] as Error).message, 'listener bug');
    } finally {
      process.removeAllListeners('uncaughtException');
      for (const l of saved) process.on('uncaughtException', l);
      await p.close();
    }
  });
});

describe('server', () => {
  test('listen() applies mode, removes a stale socket file, refuses a live one and a non-socket', async () => {
    const path = join(tmp.dir, 'srv.sock');
    const stale = native().listen(path, 1, -1);
    native().close(stale);
    const srv = await UnixServer.listen(path, { mode: 0o600 });
    try {
      assert.equal(srv.path, path);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      await assert.rejects(UnixServer.listen(path), { code: 'EADDRINUSE' });
    } finally {
      await srv.close();
    }
    assert.throws(() => statSync(path), { code: 'ENOENT' }, 'close() unlinks the socket file');
    const file = join(tmp.dir, 'plain-file');
    writeFileSync(file, 'keep me');
    await assert.rejects(UnixServer.listen(file), { code: 'EADDRINUSE' });
    assert.equal(statSync(file).size, 7);
  });

  test("'close' on the server fires once; connections accepted later are refused", async () => {
    const path = join(tmp.dir, 'srv2.sock');
    const srv = await UnixServer.listen(path);
    let closes = 0;
    srv.on('close', () => closes++);
    await Promise.all([srv.close(), srv.close()]);
    assert.equal(closes, 1);
    await assert.rejects(UnixSocket.connect(path), { code: 'ENOENT' });
  });

  test('10,000 connect/close cycles leave openFdCount flat', async (t) => {
    const path = join(tmp.dir, 'cycles.sock');
    const srv = await UnixServer.listen(path);
    let serverCloses = 0;
    srv.on('connection', (s) => {
      s.on('close', () => serverCloses++);
      s.destroy();
    });
    const cycle = async () => {
      const c = await UnixSocket.connect(path);
      const closed = once(c, 'close');
      c.destroy();
      await closed;
    };
    for (let i = 0; i < 50; i++) await cycle(); // warm up lazily opened fds
    while (serverCloses < 50) await delay(5);
    const before = openFdCount();
    const t0 = Date.now();
    const N = 10_000;
    for (let i = 0; i < N; i++) await cycle();
    while (serverCloses < N + 50) await delay(5);
    const after = openFdCount();
    const ms = Date.now() - t0;
    t.diagnostic(`${N} cycles in ${ms} ms; open fds before=${before} after=${after}`);
    assert.equal(after, before);
    await srv.close();
  });
});
