/** A QEMU and a qmpmux with a `wss://` listener, for the TLS WebSocket tests. */
import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PluginDefinition, Peer } from '@qmpmux/core';
import { makeTestCa, type TestCa } from './certs.ts';
import { startProxy, type TestProxy } from './proxy.ts';
import { startQemu, type TestQemu } from './qemu.ts';

export interface WssFixture {
  readonly qemu: TestQemu;
  readonly mux: TestProxy;
  /** The test CA that signed the server certificate (and signs client certificates). */
  readonly ca: TestCa;
  /** A scratch directory, removed afterwards. */
  readonly dir: string;
  /** Every connecting client's Peer, in order (recorded by a plugin). */
  readonly peers: Peer[];
}

/**
 * Registers before/after hooks in the current describe: QEMU, then qmpmux listening on
 * wss://127.0.0.1:0/qmp with a server certificate for 127.0.0.1 from a fresh test CA (client
 * certificates verified when given, not required).
 */
export function useWssProxy(prefix: string): WssFixture {
  const state = { peers: [] as Peer[] } as { qemu: TestQemu; mux: TestProxy; ca: TestCa; dir: string; peers: Peer[] };
  const recorder: PluginDefinition<void> = {
    name: 'test-peer',
    validate: () => undefined,
    create: () => ({
      name: 'test-peer',
      async onClientConnect(client) {
        state.peers.push(client.peer);
      },
    }),
  };
  before(async () => {
    state.dir = mkdtempSync(join(tmpdir(), prefix));
    state.ca = makeTestCa(join(state.dir, 'ca'));
    const server = state.ca.issue('server', { subject: '/CN=127.0.0.1', san: ['IP:127.0.0.1', 'DNS:localhost'], server: true });
    state.qemu = await startQemu();
    state.mux = await startProxy(state.qemu.address, { ws: 'wss://127.0.0.1:0/qmp', tls: { ...server, ca: state.ca.cert, requireClientCert: false }, plugins: [{ definition: recorder }] });
  });
  after(async () => {
    await state.mux?.stop();
    await state.qemu?.stop();
    if (state.dir) rmSync(state.dir, { recursive: true, force: true });
  });
  return state;
}
