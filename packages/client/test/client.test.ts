// The client against a scripted QMP server on a unix socket: replies, errors, events, the pending
// map, and reconnecting (state$, backoff, fail-fast, events across reconnects). The same client
// against real QEMU and qmpmux (unix, TCP, WebSocket, fds) is in e2e/test/client.test.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { firstValueFrom, take, toArray } from 'rxjs';
import { QmpFramer, toPlain } from '@qmpmux/protocol';
import {
  QmpClient,
  QmpDisconnectedError,
  QmpError,
  QmpNotConnectedError,
  QmpTooManyPendingError,
  type QmpClientState,
} from '../src/index.ts';

const GREETING = '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}\r\n';

/** A QMP server that greets, answers qmp_capabilities, and hands every other command to `onCommand`. */
class FakeServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'qmp-client-'));
  readonly path = join(this.dir, 'qmp.sock');
  readonly address = `unix:${this.path}`;
  readonly socks = new Set<Socket>();
  /** Commands received (after negotiation), in order. */
  readonly received: Record<string, unknown>[] = [];
  connections = 0;
  greeting = GREETING;
  onCommand: (sock: Socket, msg: Record<string, any>) => void = (sock, msg) => reply(sock, msg.id, '{}');
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer((sock) => {
      this.connections++;
      this.socks.add(sock);
      sock.on('close', () => this.socks.delete(sock));
      sock.on('error', () => {});
      sock.write(this.greeting);
      const framer = new QmpFramer({ maxMessageBytes: 1 << 30 });
      sock.on('data', (d) => {
        for (const ev of framer.push(d)) {
          if (ev.type !== 'message') continue;
          const msg = toPlain(ev.root) as Record<string, any>;
          if (msg.execute === 'qmp_capabilities') reply(sock, msg.id, '{}');
          else {
            this.received.push(msg);
            this.onCommand(sock, msg);
          }
        }
      });
    });
    await new Promise<void>((r) => this.server!.listen(this.path, r));
  }
  /** Drop every connection (the server keeps listening). */
  dropAll(): void {
    for (const s of this.socks) s.destroy();
  }
  async stop(keepDir = false): Promise<void> {
    this.dropAll();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server = undefined;
    if (!keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

function reply(sock: Socket, id: unknown, ret: string): void {
  sock.write(`{"return": ${ret}, "id": ${JSON.stringify(id)}}\r\n`);
}

async function until(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function setup(): Promise<FakeServer> {
  const s = new FakeServer();
  await s.start();
  cleanups.push(() => s.stop());
  return s;
}

describe('QmpClient', () => {
  it('returns typed values parsed losslessly, and error replies as QmpError with class, desc and command', async () => {
    const s = await setup();
    s.onCommand = (sock, msg) => {
      if (msg.execute === 'query-status') reply(sock, msg.id, '{"running": false, "singlestep": false, "status": "prelaunch"}');
      else if (msg.execute === 'add-fd') reply(sock, msg.id, '{"fdset-id": 18446744073709551615, "fd": 3}');
      else sock.write(`{"error": {"class": "CommandNotFound", "desc": "The command ${msg.execute} has not been found"}, "id": ${msg.id}}\r\n`);
    };
    const qmp = await QmpClient.connect(s.address);
    cleanups.push(() => qmp.close());
    assert.equal(qmp.state, 'connected');
    assert.equal(qmp.greeting.QMP.version.qemu.major, 7);
    const st = await qmp.execute('query-status');
    assert.equal(st.status, 'prelaunch');
    const fd = await qmp.execute('add-fd', { 'fdset-id': 2n ** 63n });
    assert.equal(fd['fdset-id'], 18446744073709551615n);
    assert.deepEqual(s.received.at(-1), { execute: 'add-fd', arguments: { 'fdset-id': 9223372036854775808n }, id: 3 });
    await assert.rejects(qmp.execute('__org.example_nope'), (e: unknown) => {
      assert.ok(QmpError.is(e, 'CommandNotFound'));
      assert.equal(e.desc, 'The command __org.example_nope has not been found');
      assert.equal(e.command, '__org.example_nope');
      return true;
    });
  });

  it('sends exec-oob for executeOob, and negotiates oob only when asked', async () => {
    const s = await setup();
    const plain = await QmpClient.connect(s.address);
    cleanups.push(() => plain.close());
    assert.equal(plain.oob, false);
    const qmp = await QmpClient.connect(s.address, { oob: true });
    cleanups.push(() => qmp.close());
    assert.equal(qmp.oob, true);
    await qmp.executeOob('migrate-pause');
    await qmp.execute('yank', { instances: [] }, { oob: true });
    assert.deepEqual(s.received.slice(-2), [
      { 'exec-oob': 'migrate-pause', id: 2 },
      { 'exec-oob': 'yank', arguments: { instances: [] }, id: 3 },
    ]);
  });

  it('delivers events typed by name, and all of them untyped', async () => {
    const s = await setup();
    const qmp = await QmpClient.connect(s.address);
    cleanups.push(() => qmp.close());
    const stop = firstValueFrom(qmp.on('STOP'));
    const rtc = firstValueFrom(qmp.events('RTC_CHANGE', 'RESUME'));
    const all = firstValueFrom(qmp.events$.pipe(take(2), toArray()));
    const [sock] = s.socks;
    sock!.write('{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RTC_CHANGE", "data": {"offset": 9007199254740993, "qom-path": "/m"}}\r\n');
    sock!.write('{"timestamp": {"seconds": 3, "microseconds": 4}, "event": "STOP"}\r\n');
    const r = await rtc;
    assert.equal(r.event, 'RTC_CHANGE');
    if (r.event === 'RTC_CHANGE') assert.equal(r.data.offset, 9007199254740993n);
    const st = await stop;
    assert.deepEqual([st.event, st.data, st.timestamp], ['STOP', undefined, { seconds: 3, microseconds: 4 }]);
    assert.equal(st.raw.toString(), '{"timestamp": {"seconds": 3, "microseconds": 4}, "event": "STOP"}');
    assert.deepEqual((await all).map((e) => e.event), ['RTC_CHANGE', 'STOP']);
  });

  it('rejects connect with the QmpError of a server that refuses before its greeting', async () => {
    const s = await setup();
    s.greeting = '{"error": {"class": "GenericError", "desc": "qmpmux: no principal matches this connection"}}\r\n';
    await assert.rejects(QmpClient.connect(s.address), (e: unknown) => e instanceof QmpError && e.cls === 'GenericError' && /no principal/.test(e.desc));
  });

  it('fails every waiting command when the connection drops, and then fails fast', async () => {
    const s = await setup();
    s.onCommand = () => {}; // never answers
    const qmp = await QmpClient.connect(s.address);
    const states: QmpClientState[] = [];
    qmp.state$.subscribe((st) => states.push(st));
    const waiting = [qmp.execute('stop'), qmp.execute('cont'), qmp.execute('query-name')];
    await until(() => s.received.length === 3, 'commands');
    assert.equal(qmp.pendingCount, 3);
    let eventsDone = false;
    qmp.events$.subscribe({ complete: () => (eventsDone = true) });
    s.dropAll();
    for (const p of waiting) await assert.rejects(p, QmpDisconnectedError);
    assert.equal(qmp.pendingCount, 0);
    assert.deepEqual(states, ['connected', 'closed']);
    assert.ok(qmp.closed && eventsDone);
    await assert.rejects(qmp.execute('stop'), (e: unknown) => e instanceof QmpNotConnectedError && e.state === 'closed');
  });

  it('bounds the pending map: one past maxPending is an error, not a queue', async () => {
    const s = await setup();
    const held: [Socket, unknown][] = [];
    s.onCommand = (sock, msg) => held.push([sock, msg.id]);
    const qmp = await QmpClient.connect(s.address, { maxPending: 2 });
    cleanups.push(() => qmp.close());
    const a = qmp.execute('stop');
    const b = qmp.execute('cont');
    await assert.rejects(qmp.execute('query-name'), (e: unknown) => e instanceof QmpTooManyPendingError && e.maxPending === 2);
    await until(() => held.length === 2, 'two commands');
    for (const [sock, id] of held) reply(sock, id, '{}');
    assert.deepEqual(await Promise.all([a, b]), [{}, {}]);
    assert.deepEqual(await Promise.race([qmp.execute('query-name').catch((e) => e), sleep(50).then(() => 'sent')]), 'sent');
  });

  it('reconnects with backoff: in-flight commands fail, new ones fail fast until connected, events and state$ go on', async () => {
    const s = await setup();
    let answer = true;
    s.onCommand = (sock, msg) => answer && reply(sock, msg.id, '{"running": true, "singlestep": false, "status": "running"}');
    const qmp = await QmpClient.connect(s.address, { reconnect: { initialDelayMs: 20, maxDelayMs: 80, jitter: 0 } });
    cleanups.push(() => qmp.close());
    const states: QmpClientState[] = [];
    qmp.state$.subscribe((st) => states.push(st));
    const names: string[] = [];
    qmp.events$.subscribe((e) => names.push(e.event));
    [...s.socks][0]!.write('{"timestamp": {"seconds": 1, "microseconds": 0}, "event": "STOP"}\r\n');
    await until(() => names.length === 1, 'first event');

    // The server goes away for a while: the in-flight command fails, later ones fail fast.
    answer = false;
    const inflight = qmp.execute('query-status');
    await until(() => s.received.length === 1, 'command sent');
    await s.stop(true);
    await assert.rejects(inflight, QmpDisconnectedError);
    await until(() => qmp.state === 'reconnecting', 'reconnecting');
    await assert.rejects(qmp.execute('query-status'), (e: unknown) => e instanceof QmpNotConnectedError && e.state !== 'closed');
    await sleep(250); // a few failed attempts (20, 40, 80, 80 ms)
    assert.ok(qmp.state === 'reconnecting' || qmp.state === 'connecting', qmp.state); // between attempts, or in one

    // Back: negotiated again, commands and events flow, through the same observables.
    answer = true;
    const before = s.connections;
    await s.start();
    await until(() => qmp.state === 'connected', 'reconnected');
    assert.equal(s.connections, before + 1);
    assert.equal((await qmp.execute('query-status')).status, 'running');
    [...s.socks][0]!.write('{"timestamp": {"seconds": 2, "microseconds": 0}, "event": "RESUME"}\r\n');
    await until(() => names.length === 2, 'second event');
    assert.deepEqual(names, ['STOP', 'RESUME']);
    assert.equal(states[0], 'connected');
    assert.equal(states.at(-1), 'connected');
    assert.ok(states.includes('reconnecting') && states.includes('connecting'));
    // only the states the client explained: connected -> (reconnecting -> connecting)+ -> connected
    for (let i = 1; i < states.length; i++) {
      const ok: Record<QmpClientState, QmpClientState[]> = { connected: ['connecting'], reconnecting: ['connected', 'connecting'], connecting: ['reconnecting'], closed: [] };
      assert.ok(ok[states[i]!].includes(states[i - 1]!), `${states[i - 1]} -> ${states[i]}`);
    }
  });

  it('gives up after maxAttempts (closed, events complete), and close() stops reconnecting', async () => {
    const s = await setup();
    const qmp = await QmpClient.connect(s.address, { reconnect: { initialDelayMs: 5, maxAttempts: 3, jitter: 0 } });
    let complete = false;
    qmp.events$.subscribe({ complete: () => (complete = true) });
    await s.stop(true);
    await until(() => qmp.closed, 'closed after 3 attempts');
    assert.ok(complete);

    await s.start();
    const other = await QmpClient.connect(s.address, { reconnect: { initialDelayMs: 10_000 } });
    s.dropAll();
    await until(() => other.state === 'reconnecting', 'reconnecting');
    other.close();
    assert.equal(other.state, 'closed');
    await assert.rejects(other.execute('stop'), (e: unknown) => e instanceof QmpNotConnectedError && e.state === 'closed');
  });

  it('keeps the legacy untyped surface: execute<T>(name), a run-time name, on(name)', async () => {
    const s = await setup();
    s.onCommand = (sock, msg) => reply(sock, msg.id, JSON.stringify([{ name: msg.execute }]));
    const qmp = await QmpClient.connect(s.address);
    cleanups.push(() => qmp.close());
    const list = await qmp.execute<{ name: string }[]>('query-commands');
    assert.equal(list[0]!.name, 'query-commands');
    const name: string = 'query-' + 'name';
    assert.deepEqual(await qmp.execute(name, {}), [{ name: 'query-name' }]);
  });
});
