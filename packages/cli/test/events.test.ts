/**
 * `qmpmux events ADDRESS` (virsh qemu-monitor-event's flags) against a real QEMU behind qmpmux with the
 * event-replay plugin. Events are made by another client (stop, cont, system_reset) once the events
 * process is connected and negotiated (seen in the proxy's client list).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { QmpClient } from '@qmpmux/client';
import { eventReplayPlugin } from '@qmpmux/plugin-event-replay';
import { runQmpmux, spawnQmpmux, STACK_LINE, startProxy, startQemu, until, useProxy } from '@qmpmux/e2e';

/** `qmpmux events ARGS`, running; `lines()` is what it printed so far, line by line. */
async function start(args: string[]) {
  const p = await spawnQmpmux(['events', ...args], { killAfterMs: 30_000 });
  return { pid: p.pid, out: p.out, lines: () => p.out().split('\n').filter(Boolean), err: p.log, exited: p.exited };
}

describe('qmpmux events', () => {
  let other: QmpClient;
  /** Every event QEMU sent since the start, as `other` received them (QEMU's bytes). */
  const seen: string[] = [];

  /** Wait until qmpmux has `n` negotiated clients besides `other`. */
  const listening = (n = 1) => until(() => [...mux.proxy.clients.values()].filter((c) => c.negotiated).length === n + 1, 'the events client negotiated');
  /** Run commands from the other client and wait until their events have reached it. */
  async function make(...commands: ('stop' | 'cont' | 'system_reset')[]): Promise<string[]> {
    const from = seen.length;
    for (const c of commands) await other.execute(c);
    await until(() => seen.length >= from + commands.length, 'the events');
    return seen.slice(from);
  }

  const { mux } = useProxy({ plugins: [{ definition: eventReplayPlugin, options: {} }] });
  before(async () => {
    other = await QmpClient.connect(mux.unix);
    other.on().subscribe((e) => seen.push(e.raw.toString('utf8').trimEnd()));
  });
  after(async () => {
    other?.close();
  });

  it("prints each event as it arrives, one line each, QEMU's own bytes; --count N exits 0 after N", async () => {
    const r = await start([mux.unix, '--count', '2']);
    await listening();
    const made = await make('stop', 'cont', 'system_reset');
    assert.equal(await r.exited, 0);
    assert.deepEqual(r.lines(), made.slice(0, 2));
    assert.match(made[0]!, /^\{"timestamp": \{"seconds": \d+, "microseconds": \d+\}, "event": "STOP"\}$/);
  });

  it('--event NAME: only those events (repeatable)', async () => {
    const r = await start([mux.tcp, '--event', 'RESET', '--event', 'RESUME', '--count', '2']);
    await listening();
    const made = await make('stop', 'cont', 'stop', 'system_reset', 'cont');
    assert.equal(await r.exited, 0);
    assert.deepEqual(r.lines(), [made[1], made[3]]);
    assert.match(r.lines()[0]!, /"event": "RESUME"/);
    assert.match(r.lines()[1]!, /"event": "RESET"/);
  });

  it('--regex: each --event is a regular expression, matched anywhere in the name', async () => {
    const r = await start([mux.unix, '--event', 'ES', '--regex', '--count', '2']);
    await listening();
    const made = await make('stop', 'cont', 'system_reset');
    assert.equal(await r.exited, 0);
    assert.deepEqual(r.lines(), [made[1], made[2]], 'RESUME and RESET, not STOP');
  });

  it("--timestamp: each line starts with the event's own QEMU timestamp (ISO 8601, UTC, microseconds)", async () => {
    const r = await start([mux.unix, '--timestamp', '--count', '1']);
    await listening();
    const [made] = await make('stop', 'cont');
    assert.equal(await r.exited, 0);
    const ts = JSON.parse(made!).timestamp as { seconds: number; microseconds: number };
    const iso = new Date(ts.seconds * 1000).toISOString().slice(0, 19) + '.' + String(ts.microseconds).padStart(6, '0') + 'Z';
    assert.equal(r.out(), `${iso}: ${made}\n`);
  });

  it('--pretty: each event as indented JSON', async () => {
    const r = await start([mux.unix, '--pretty', '--event', 'RESET', '--count', '1']);
    await listening();
    const made = await make('system_reset');
    assert.equal(await r.exited, 0);
    assert.equal(r.out(), JSON.stringify(JSON.parse(made[0]!), null, 4) + '\n');
    assert.match(r.out(), /^\{\n {4}"timestamp": \{\n {8}"seconds": \d+,\n {8}"microseconds": \d+\n {4}\},\n {4}"event": "RESET",\n {4}"data": \{\n {8}"guest": false,\n {8}"reason": "host-qmp-system-reset"\n {4}\}\n\}\n$/);
  });

  it('--timeout S: exits 0 after S seconds, whatever arrived', async () => {
    const r = await runQmpmux(['events', mux.unix, '--timeout', '0.3']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, '');
    assert.equal(r.err, '');
  });

  it('Ctrl-C (SIGINT) ends it with exit status 0', async () => {
    const r = await start([mux.unix]);
    await listening();
    const made = await make('stop', 'cont');
    await until(() => r.lines().length === 2, 'the events printed');
    process.kill(r.pid, 'SIGINT');
    assert.equal(await r.exited, 0);
    assert.deepEqual(r.lines(), made);
    assert.equal(r.err(), '');
  });

  it('--replay: first the events qmpmux held from before this client connected, then the live ones', async () => {
    await make('stop', 'cont');
    // Everything held (the plugin's ring has them all), oldest first, QEMU's bytes; then exit.
    const held = await runQmpmux(['events', mux.unix, '--replay', '--timeout', '0']);
    assert.equal(held.code, 0, held.err);
    assert.deepEqual(held.out.split('\n').filter(Boolean), seen);
    // Only some names, then live.
    const stops = seen.filter((e) => e.includes('"event": "STOP"'));
    const r = await start([mux.unix, '--replay', '--event', 'STOP', '--count', String(stops.length + 1)]);
    await until(() => r.lines().length === stops.length, 'the held STOP events');
    const made = await make('stop', 'cont');
    assert.equal(await r.exited, 0);
    assert.deepEqual(r.lines(), [...stops, made[0]]);
  });

  it('--replay without the event-replay plugin: one line saying so, exit 1', async () => {
    const q = await startQemu();
    const plain = await startProxy(q.address, { tcp: false });
    try {
      const r = await runQmpmux(['events', plain.unix, '--replay']);
      assert.equal(r.code, 1);
      assert.equal(r.err, `qmpmux events: --replay: ${plain.unix} has no __org.qmpmux_replay-events (is the event-replay plugin enabled?)\n`);
    } finally {
      await plain.stop();
      await q.stop();
    }
  });

  it('exits 1, saying so, when the connection closes (QEMU quit)', async () => {
    const q = await startQemu();
    const m = await startProxy(q.address, { tcp: false });
    try {
      const r = await start([m.unix]);
      await until(() => [...m.proxy.clients.values()].some((c) => c.negotiated), 'connected');
      const c = await QmpClient.connect(m.unix);
      c.sendRaw('{"execute": "quit"}');
      assert.equal(await r.exited, 1);
      assert.match(r.lines()[0]!, /"event": "SHUTDOWN", "data": \{"guest": false, "reason": "host-qmp-quit"\}/);
      assert.equal(r.err(), `qmpmux events: connection to ${m.unix} closed\n`);
      c.close();
    } finally {
      await m.stop();
      await q.stop();
    }
  });

  it('usage errors: one line, exit 2, no stack trace', async () => {
    for (const args of [['--regex', mux.unix], ['--event', '(', '--regex', mux.unix], ['--timeout', '-1', mux.unix], ['--count', '1.5', mux.unix], [mux.unix, 'extra']]) {
      const r = await runQmpmux(['events', ...args]);
      assert.equal(r.code, 2, args.join(' '));
      assert.doesNotMatch(r.err, STACK_LINE);
      assert.equal(r.err.trim().split('\n').length, 1, r.err);
    }
  });
});
