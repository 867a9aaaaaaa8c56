/**
 * Output to a peer that stops reading, over real sockets (unix, TCP, WebSocket): what waits is counted
 * in writableLength, and once the peer reads again every byte arrives, in order, message boundaries
 * kept on WebSocket, onDrain reports the progress, and writableLength falls back to 0.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { listen, type Conn } from '../src/index.ts';
import { CHUNK_BYTES, COPY_BELOW } from '../src/output-queue.ts';

const dir = mkdtempSync(join(tmpdir(), 'qmpmux-slow-peer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Many small messages (events) and a few large ones (query-qmp-schema replies): 12 MiB in all. */
function messages(): Buffer[] {
  const out: Buffer[] = [];
  const ev = (i: number) => Buffer.from(`{"timestamp": {"seconds": ${i}, "microseconds": 0}, "event": "STOP"}\r\n`, 'latin1');
  for (let i = 0; i < 100_000; i++) {
    out.push(ev(i));
    if (i % 25_000 === 0) out.push(Buffer.alloc(1_000_000, 0x30 + (i % 10)));
  }
  return out;
}

async function until(pred: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Accept one connection on `address`; the caller's client connects to the bound address. */
async function serverConn(address: string): Promise<{ bound: string; conn: Promise<Conn>; close(): Promise<void> }> {
  let got!: (c: Conn) => void;
  const conn = new Promise<Conn>((r) => (got = r));
  const l = await listen(address, (c) => {
    c.start();
    got(c);
  });
  return { bound: l.bound, conn, close: () => l.close() };
}

async function check(server: Conn, resume: () => void, received: () => Buffer[], framed: boolean): Promise<void> {
  let drains = 0;
  server.onDrain = () => drains++;
  const msgs = messages();
  const total = msgs.reduce((n, m) => n + m.length, 0);
  for (const m of msgs) server.write(m);
  await sleep(200);
  const waiting = server.writableLength;
  assert.ok(waiting > 0, 'output waits while the peer does not read');
  // Chunks are at least (CHUNK_BYTES - COPY_BELOW) full before the next one starts.
  const most = (total * CHUNK_BYTES) / (CHUNK_BYTES - COPY_BELOW) + CHUNK_BYTES + msgs.length * 16;
  assert.ok(waiting <= most, `writableLength ${waiting} counts what waits (at most ${most})`);
  resume();
  await until(() => received().reduce((n, b) => n + b.length, 0) >= total, 'every byte');
  await until(() => server.writableLength === 0, 'writableLength back to 0');
  assert.ok(drains > 0, 'onDrain reported the progress');
  const got = received();
  if (framed) {
    assert.equal(got.length, msgs.length, 'one frame per message');
    assert.ok(got.every((f, i) => f.equals(msgs[i]!)), 'frames in order');
  } else {
    assert.ok(Buffer.concat(got).equals(Buffer.concat(msgs)), 'bytes in order');
  }
}

async function byteStream(address: string, connect: (bound: string) => net.Socket): Promise<void> {
  const s = await serverConn(address);
  const sock = connect(s.bound);
  sock.pause();
  const chunks: Buffer[] = [];
  const server = await s.conn;
  const resume = () => sock.on('data', (d: Buffer) => chunks.push(d)).resume();
  await check(server, resume, () => chunks, false);
  sock.destroy();
  await s.close();
}

describe('output to a peer that stops reading', { timeout: 60_000 }, () => {
  it('unix', async () => {
    const path = join(dir, 'u.sock');
    await byteStream(`unix:${path}`, () => net.connect(path));
  });

  it('tcp', async () => {
    await byteStream('tcp:127.0.0.1:0', (bound) => net.connect(Number(bound.split(':').pop()), '127.0.0.1'));
  });

  it('websocket (one frame per message)', async () => {
    const s = await serverConn('ws://127.0.0.1:0/qmp');
    const ws = new WebSocket(s.bound.replace(/^ws:/, 'ws:'), ['qmp.json']);
    const frames: Buffer[] = [];
    ws.on('message', (d: Buffer) => frames.push(d));
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    ws.pause();
    const server = await s.conn;
    await check(server, () => ws.resume(), () => frames, true);
    ws.terminate();
    await s.close();
  });
});
