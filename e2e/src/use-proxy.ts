/** A QEMU and a qmpmux in front of it, around the tests of a file (or describe). */
import { after, before } from 'node:test';
import { startProxy, type StartProxyOptions, type TestProxy } from './proxy.ts';
import { testQemu, type StartQemuOptions, type TestQemu } from './qemu.ts';

/**
 * Registers a `before` hook that starts a QEMU and then qmpmux (startProxy) in front of it, and an
 * `after` hook that stops qmpmux and then QEMU. `qemu` and `mux` are handles to use from that
 * `before` on (in tests and in hooks registered after this call).
 */
export function useProxy(opts: StartProxyOptions = {}, qemuOpts: StartQemuOptions = {}): { readonly qemu: TestQemu; readonly mux: TestProxy } {
  const q = testQemu(qemuOpts);
  let started: TestProxy | undefined;
  before(async () => {
    await q.launch();
    started = await startProxy(q.qemu.address, opts);
  });
  after(async () => {
    await started?.stop();
    await q.qemu.stop();
  });
  const running = (): TestProxy => {
    if (!started) throw new Error('useProxy: qmpmux starts in a before hook; use it from there on');
    return started;
  };
  const mux: TestProxy = {
    get proxy() {
      return running().proxy;
    },
    get unix() {
      return running().unix;
    },
    get tcp() {
      return running().tcp;
    },
    get ws() {
      return running().ws;
    },
    stop: () => running().stop(),
  };
  return { qemu: q.qemu, mux };
}
