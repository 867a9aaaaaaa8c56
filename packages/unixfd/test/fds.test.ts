import { after, afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MAX_FDS_PER_MESSAGE, closeFd, fdType, openFdCount, pipe, socketpair } from '../src/index.ts';
import { native } from '../src/native.ts';
import { delay, makePair, readBytes, tmpDir } from './helpers.ts';

const tmp = tmpDir();
after(() => tmp.cleanup());
afterEach(() => {
  native().setRecvFdCapacity(MAX_FDS_PER_MESSAGE);
});

function readPipe(fd: number): string {
  const buf = Buffer.alloc(256);
  return buf.subarray(0, readSync(fd, buf)).toString();
}

function isCloexec(fd: number): boolean {
  const flags = /flags:\s*([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!;
  return (parseInt(flags, 8) & 0o2000000) !== 0;
}

function pipes(n: number): { readEnds: number[]; writeEnds: number[] } {
  const readEnds: number[] = [];
  const writeEnds: number[] = [];
  for (let i = 0; i < n; i++) {
    const [r, w] = pipe();
    readEnds.push(r);
    writeEnds.push(w);
  }
  return { readEnds, writeEnds };
}

describe('fd passing', () => {
  test('helpers: pipe, socketpair, fdType, closeFd', () => {
    const [r, w] = pipe();
    const [a, b] = socketpair();
    assert.equal(fdType(r), 'fifo');
    assert.equal(fdType(a), 'socket');
    assert.ok(isCloexec(r) && isCloexec(w) && isCloexec(a) && isCloexec(b));
    for (const fd of [r, w, a, b]) closeFd(fd);
    assert.equal(fdType(r), 'closed');
    closeFd(r); // EBADF: no throw
    closeFd(-1);
    assert.equal(MAX_FDS_PER_MESSAGE, 253);
  });

  test('fds pass both ways and stay usable', async () => {
    const p = await makePair(tmp.dir);
    try {
      const before = openFdCount();
      // client -> server: the write end of a pipe; the server writes through it
      const [r1, w1] = pipe();
      assert.equal(p.client.write(Buffer.from('A'), [w1]), true);
      assert.equal(fdType(w1), 'closed', 'sender closes its copy right after sending');
      const got1 = await readBytes(p.server, 1);
      assert.equal(got1.fds.flat().length, 1);
      const recv1 = got1.fds.flat()[0]!;
      assert.equal(fdType(recv1), 'fifo');
      assert.ok(isCloexec(recv1), 'received fds are O_CLOEXEC');
      writeSync(recv1, 'through the passed fd');
      closeFd(recv1);
      assert.equal(readPipe(r1), 'through the passed fd');
      closeFd(r1);

      // server -> client
      const [r2, w2] = pipe();
      p.server.write(Buffer.from('B'), [w2]);
      const got2 = await readBytes(p.client, 1);
      const recv2 = got2.fds.flat()[0]!;
      writeSync(recv2, 'and back');
      closeFd(recv2);
      assert.equal(readPipe(r2), 'and back');
      closeFd(r2);
      assert.equal(openFdCount(), before);
    } finally {
      await p.close();
    }
  });

  test('three fds of different kinds in one message, in order', async () => {
    const p = await makePair(tmp.dir);
    try {
      const [r, w] = pipe();
      const [a, b] = socketpair();
      const file = openSync(join(tmp.dir, 'f.txt'), 'w+');
      p.client.write(Buffer.from('three'), [r, a, file]);
      const got = await readBytes(p.server, 5);
      const fds = got.fds.flat();
      assert.deepEqual(fds.map(fdType), ['fifo', 'socket', 'file']);
      // they are the same open files: a pipe written on our w end reads through the passed r end
      writeSync(w, 'x');
      assert.equal(readPipe(fds[0]!), 'x');
      for (const fd of [...fds, w, b]) closeFd(fd);
    } finally {
      await p.close();
    }
  });

  test('250 fds in one message arrive together, nothing leaks', async () => {
    const p = await makePair(tmp.dir);
    try {
      const before = openFdCount();
      const { readEnds, writeEnds } = pipes(125);
      const all = [...readEnds, ...writeEnds];
      p.client.write(Buffer.from('!'), all);
      assert.ok(all.every((fd) => fdType(fd) === 'closed'), 'all 250 sender copies closed');
      const got = await readBytes(p.server, 1);
      const fds = got.fds.flat();
      assert.equal(fds.length, 250);
      assert.ok(fds.every((fd) => fdType(fd) === 'fifo'));
      for (const fd of fds) closeFd(fd);
      assert.equal(openFdCount(), before);
    } finally {
      await p.close();
    }
  });

  test('253 fds is the maximum: 254 is refused up front and the caller keeps them', async () => {
    const p = await makePair(tmp.dir);
    try {
      const before = openFdCount();
      const { readEnds, writeEnds } = pipes(127);
      const all = [...readEnds, ...writeEnds];
      assert.throws(() => p.client.write(Buffer.from('!'), all), RangeError);
      assert.ok(all.every((fd) => fdType(fd) === 'fifo'), 'not taken over on a throw');
      p.client.write(Buffer.from('!'), all.slice(0, 253));
      closeFd(all[253]!);
      const got = await readBytes(p.server, 1);
      assert.equal(got.fds.flat().length, 253);
      for (const fd of got.fds.flat()) closeFd(fd);
      assert.equal(openFdCount(), before);
    } finally {
      await p.close();
    }
  });

  test('MSG_CTRUNC (more fds than the receive buffer holds): data arrives with [], no leak, stream goes on', async () => {
    const p = await makePair(tmp.dir);
    try {
      const before = openFdCount();
      native().setRecvFdCapacity(8);
      const { readEnds, writeEnds } = pipes(10);
      p.client.write(Buffer.from('too many'), [...readEnds, ...writeEnds]);
      const got = await readBytes(p.server, 8);
      assert.equal(got.data.toString(), 'too many');
      assert.deepEqual(got.fds.flat(), []);
      assert.equal(openFdCount(), before, 'the fds that did arrive were closed');

      native().setRecvFdCapacity(0); // no control buffer at all
      const [r, w] = pipe();
      p.client.write(Buffer.from('none'), [r, w]);
      const got2 = await readBytes(p.server, 4);
      assert.equal(got2.data.toString(), 'none');
      assert.deepEqual(got2.fds.flat(), []);
      assert.equal(openFdCount(), before);

      native().setRecvFdCapacity(MAX_FDS_PER_MESSAGE);
      const [r3, w3] = pipe();
      p.client.write(Buffer.from('ok'), [w3]);
      const got3 = await readBytes(p.server, 2);
      assert.equal(got3.fds.flat().length, 1);
      closeFd(got3.fds.flat()[0]!);
      closeFd(r3);
      assert.equal(openFdCount(), before);
    } finally {
      await p.close();
    }
  });

  test('fds travel with the first byte of their write, even behind a queued megabyte', async () => {
    const p = await makePair(tmp.dir);
    try {
      const before = openFdCount();
      const big = randomBytes(1024 * 1024);
      p.client.write(big);
      assert.ok(p.client.writableLength > 0, 'the megabyte is partly queued');
      const [r, w] = pipe();
      p.client.write(Buffer.from('X'), [w]);
      assert.equal(fdType(w), 'fifo', 'still queued, still ours');
      const chunks: { start: number; end: number; fds: number[] }[] = [];
      let offset = 0;
      const got = await new Promise<Buffer>((resolve) => {
        const parts: Buffer[] = [];
        p.server.on('data', (d, fds) => {
          chunks.push({ start: offset, end: offset + d.length, fds });
          offset += d.length;
          parts.push(d);
          if (offset === big.length + 1) resolve(Buffer.concat(parts));
        });
        p.server.resume();
      });
      assert.equal(got[big.length], 'X'.charCodeAt(0));
      const withFds = chunks.filter((c) => c.fds.length > 0);
      assert.equal(withFds.length, 1);
      assert.ok(withFds[0]!.start <= big.length && big.length < withFds[0]!.end, 'the fd came with the chunk holding X');
      assert.equal(fdType(withFds[0]!.fds[0]!), 'fifo');
      closeFd(withFds[0]!.fds[0]!);
      closeFd(r);
      assert.equal(openFdCount(), before, 'the sender closed its copy once sent');
    } finally {
      await p.close();
    }
  });

  test('queued fds are closed when the socket is destroyed before sending them', async () => {
    const p = await makePair(tmp.dir);
    try {
      const before = openFdCount();
      p.client.write(randomBytes(2 * 1024 * 1024));
      const { readEnds, writeEnds } = pipes(3);
      p.client.write(Buffer.from('never sent'), writeEnds);
      assert.ok(writeEnds.every((fd) => fdType(fd) === 'fifo'));
      p.client.destroy();
      assert.ok(writeEnds.every((fd) => fdType(fd) === 'closed'));
      for (const fd of readEnds) closeFd(fd);
      await delay(20);
      assert.equal(openFdCount(), before - 1, 'only the client socket itself is gone');
      // a write after close still takes ownership of its fds: it closes them
      const [r, w] = pipe();
      assert.equal(p.client.write(Buffer.from('late'), [w]), false);
      assert.equal(fdType(w), 'closed');
      closeFd(r);
    } finally {
      await p.close();
    }
  });

  test("fds arriving without a 'data' listener are closed, not leaked", async () => {
    const p = await makePair(tmp.dir);
    try {
      const before = openFdCount();
      p.server.resume(); // nobody listens
      const { readEnds, writeEnds } = pipes(4);
      p.client.write(Buffer.from('lost'), [...readEnds, ...writeEnds]);
      await delay(50);
      assert.equal(openFdCount(), before);
    } finally {
      await p.close();
    }
  });

  test('a peer that sends fds and disconnects at once does not leak them', async () => {
    const p = await makePair(tmp.dir);
    try {
      const { readEnds, writeEnds } = pipes(20);
      p.client.write(Buffer.from('bye'), [...readEnds, ...writeEnds]);
      p.client.destroy();
      await delay(20);
      const before = openFdCount();
      const fdsSeen: number[] = [];
      p.server.on('data', (_d, fds) => {
        fdsSeen.push(...fds);
        p.server.destroy(); // keeps nothing from this chunk but closes the fds
        for (const fd of fds) closeFd(fd);
      });
      p.server.resume();
      await new Promise((r) => p.server.once('close', r));
      assert.equal(fdsSeen.length, 40);
      assert.equal(openFdCount(), before - 1);
    } finally {
      await p.close();
    }
  });
});
