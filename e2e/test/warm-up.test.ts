/**
 * The warm-up before listening (core/warm-up.ts): commands run through a private listener of the
 * proxy's own kind, seen by no plugin and counted nowhere, leaving nothing behind. Real QEMU.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { QmpClient } from '@qmpmux/client';
import { createLogger, NO_OBSERVER, type LogLevel, type Observer, type Plugin, type PluginDefinition } from '@qmpmux/core';
import { startProxy, useQemu, type TestProxy } from '../src/index.ts';

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
});
