/**
 * The warm-up before listening (core/warm-up.ts): commands run through a private listener of the
 * proxy's own kind, seen by no plugin and counted nowhere, leaving nothing behind. Real QEMU.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { QmpClient } from '@qmpmux/client';
import { createLogger, NO_OBSERVER, type LogLevel, type Observer, type Plugin, type PluginDefinition } from '@qmpmux/core';
import { QMPMUX_BIN, RawClient, startProxy, stopProcess, until, useQemu, useTempDir, type TestProxy } from '../src/index.ts';

/** Every hook a plugin can see, recorded. */
function recorder(seen: string[]): PluginDefinition<object> {
  return {
    name: 'recorder',
    validate: () => ({}),
    create: (): Plugin => ({
      name: 'recorder',
      onClientConnect: async (c) => void seen.push(`connect ${c.id}`),
      onNegotiated: async (c) => void seen.push(`negotiated ${c.id}`),
      onCommand: async (cmd) => void seen.push(`command ${cmd.command}`),
      onReply: async (r) => void seen.push(`reply ${r.command.command}`),
      onClientDisconnect: async (c) => void seen.push(`disconnect ${c.id}`),
    }),
  };
}

/** An observer that records what reaches it (and has a warm-up twin that records elsewhere). */
function countingObserver(real: string[], twin: string[]): Observer {
  const make = (into: string[], twinOf?: () => Observer): Observer => {
    const o: Observer = {
      ...NO_OBSERVER,
      commandReplied: (command, outcome, source) => void into.push(`${command} ${outcome} ${source}`),
      clientConnected: (t) => void into.push(`connected ${t}`),
      warmUpTwin: () => (twinOf ? twinOf() : o),
    };
    return o;
  };
  return make(real, () => make(twin));
}

const warmUpDirs = () => readdirSync(tmpdir()).filter((n) => n.startsWith('qmpmux-warm-up-'));

describe('warm-up before listening', () => {
  const qemu = useQemu();

  for (const kind of ['unix', 'tcp'] as const) {
    it(`runs through a private ${kind} listener: no plugin sees it, nothing is counted, nothing stays behind`, async () => {
      const dirsBefore = warmUpDirs();
      const seen: string[] = [];
      const counted: string[] = [];
      const twin: string[] = [];
      const logs: string[] = [];
      const log = createLogger('qmpmux', 'info', (_l: LogLevel, _t, msg) => void logs.push(msg));
      let mux: TestProxy | undefined;
      try {
        mux = await startProxy(qemu.address, { unix: kind === 'unix', tcp: kind === 'tcp', warmUp: 120, plugins: [{ definition: recorder(seen) }], observer: countingObserver(counted, twin), log });
        const line = logs.find((m) => m.startsWith('warm-up: '));
        assert.match(line ?? '', new RegExp(`^warm-up: 120 commands in \\d+ ms \\(through ${kind}\\)$`));
        assert.ok(logs.indexOf(line!) < logs.findIndex((m) => m.startsWith('listening on')), 'the warm-up ends before the listener opens');
        assert.deepEqual(seen, [], 'no plugin saw the warm-up');
        assert.deepEqual(counted, [], 'nothing was counted');
        assert.equal(twin.length, 120, "the warm-up reported to the observer's twin");
        // The cached path too: query-version goes to QEMU once, then comes from the query cache.
        assert.deepEqual(twin.slice(0, 10), [...['qemu', 'cache'].flatMap((v) => ['query-status ok qemu', 'query-status ok qemu', 'query-status ok qemu', 'query-name ok qemu', `query-version ok ${v}`])]);
        assert.equal(mux.proxy.clients.size, 0);
        assert.deepEqual(warmUpDirs(), dirsBefore, 'the private socket directory is removed');
        // The first real client is seen and counted as usual.
        const c = await QmpClient.connect(kind === 'unix' ? mux.unix : mux.tcp);
        assert.deepEqual(await c.execute('query-status'), { status: 'running', singlestep: false, running: true });
        c.close();
        assert.deepEqual(seen.slice(0, 4), ['connect 1', 'negotiated 1', 'command query-status', 'reply query-status']);
        assert.deepEqual(counted, [`connected ${kind}`, 'query-status ok qemu']);
      } finally {
        await mux?.stop();
      }
    });
  }

  /**
   * What V8 does after listening, seen through `--trace-deopt` (line-buffered by stdbuf into a file,
   * so what was printed before the listener opened is told apart from what the first client caused).
   * Code thrown away ("deoptimising") and compiled again under the first client is the cold tail this
   * warm-up exists to remove; a request shape or an object shape the warm-up never made shows here.
   */
  async function deoptsUnderFirstClient(warmUp: number): Promise<string[]> {
    const trace = join(dir, `trace-${warmUp}.txt`);
    const socket = join(dir, `m-${warmUp}.sock`);
    const fd = openSync(trace, 'w');
    const child = spawn('stdbuf', ['-oL', process.execPath, '--trace-deopt', QMPMUX_BIN, 'serve', '--upstream', qemu.address, '--listen', `unix:${socket}`, '--log', 'info'], {
      stdio: ['ignore', fd, 'pipe'],
      env: { ...process.env, QMPMUX_WARMUP: String(warmUp) },
    });
    closeSync(fd);
    let log = '';
    child.stderr!.on('data', (d) => (log += d));
    try {
      await until(() => log.includes('listening on unix:'), 'qmpmux listening', 30_000);
      await sleep(300); // compile jobs the warm-up started finish; deopts happen only when code runs
      const mark = statSync(trace).size;
      const c = await RawClient.connect(`unix:${socket}`);
      c.send('{"execute": "qmp_capabilities"}');
      await c.count(2);
      // Every shape a real client may send, in an order the warm-up does not use.
      const shapes = [(k: number) => `{"id": "libvirt-${k}", "execute": "query-status"}`, (k: number) => `{"execute": "query-name", "arguments": {}, "id": ${k}}`, () => '{"execute": "query-status"}', (k: number) => `{"execute": "query-version", "id": ${k}}`];
      for (let k = 0; k < 2000; k++) {
        c.send(shapes[k % shapes.length]!(k));
        await c.count(3 + k);
      }
      await sleep(300);
      const after = readFileSync(trace, 'latin1').slice(mark);
      c.close();
      return after.split('\n').filter((l) => l.startsWith('[bailout (kind: deopt'));
    } finally {
      await stopProcess(child, 'SIGTERM', 5000);
    }
  }
  const dir = useTempDir('qmpmux-deopt-');

  it('leaves V8 nothing to throw away under the first client, whatever shape its requests have (and without the warm-up, it does)', async () => {
    const cold = await deoptsUnderFirstClient(0);
    assert.ok(cold.length > 0, 'the instrument sees deopts: without a warm-up, the first client causes some');
    const warm = await deoptsUnderFirstClient(3000);
    assert.deepEqual(warm, [], 'no code thrown away after the warm-up');
  });
});
