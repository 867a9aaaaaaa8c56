/**
 * One worker thread of a fleet with `threads` > 1 (serve-threads.ts starts them): a Fleet of its own
 * that runs, whole, the VMs the main thread gives it — their Proxies, plugins, listeners and clients —
 * on this thread's event loop. It answers the main thread's `sync` (make my VMs be these), `budget`
 * (my share of maxTotalClientOutputBytes) and `stop`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ConfigError, OutputBudget, createLogger, type LogLevel } from '@qmpmux/core';
import { Fleet } from '@qmpmux/fleet';
import { AVAILABLE_PLUGINS } from './plugins.ts';
import { fromWire, type ThreadReply, type ThreadRequest, type ThreadSetup } from './serve-threads.ts';

const setup = workerData as ThreadSetup;
const log = createLogger(`qmpmux:thread${setup.index}`, setup.logLevel as LogLevel);
const budget = new OutputBudget(setup.outputBytes);
const fleet = new Fleet({ log, outputBudget: budget, maxVms: setup.maxVms, vmLog: (name) => createLogger(`qmpmux:${name}`, setup.logLevel as LogLevel), warmUp: setup.warmUp });

parentPort!.on('message', (m: ThreadRequest) => {
  void answer(m).then((r) => parentPort!.postMessage(r));
});

async function answer(m: ThreadRequest): Promise<ThreadReply> {
  try {
    switch (m.op) {
      case 'sync':
        return { id: m.id, report: await fleet.sync('config', m.specs.map((s) => fromWire(s, AVAILABLE_PLUGINS)), { atomic: true }) };
      case 'budget':
        budget.setLimit(m.bytes);
        return { id: m.id };
      case 'stop':
        await fleet.stop();
        return { id: m.id };
    }
  } catch (e) {
    return { id: m.id, error: e instanceof ConfigError ? { path: e.path, problem: e.problem } : { problem: (e as Error).message } };
  }
}
