/**
 * One worker thread of a fleet with `threads` > 1 (serve-threads.ts starts them): a Fleet of its own
 * that runs, whole, the VMs the main thread gives it — their Proxies, plugins, listeners and clients —
 * on this thread's event loop. It answers the main thread's `sync` (make my VMs be these), `add`,
 * `remove` and `info` (the control socket's add-vm, remove-vm, query-vms), `metrics`
 * (my VMs' series, with --http), `readiness` (my VMs whose QEMU link is not ready), `budget` (my share
 * of maxTotalClientOutputBytes) and `stop`. Unasked, it tells of a discovered VM whose QEMU was
 * unreachable for discoverGoneMs (its LinkWatch runs here, beside the VM): the main thread's
 * Discovery removes it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ConfigError, OutputBudget, createLogger, type LogLevel } from '@qmpmux/core';
import { FleetError, LinkWatch, vmInfo } from '@qmpmux/fleet';
import { MetricsRegistry, notReadyOf } from '@qmpmux/metrics';
import { AVAILABLE_PLUGINS } from './plugins.ts';
import { servedFleet } from './serve-fleet.ts';
import { fromWire, type ThreadEvent, type ThreadReply, type ThreadRequest, type ThreadSetup } from './serve-threads.ts';

const setup = workerData as ThreadSetup;
const log = createLogger(`qmpmux:thread${setup.index}`, setup.logLevel as LogLevel);
const budget = new OutputBudget(setup.outputBytes);
// With --http: this thread's VMs' series (the main thread keeps the process metrics and merges).
const registry = setup.metrics ? new MetricsRegistry({ processMetrics: false }) : undefined;
const links = new LinkWatch({ goneMs: setup.goneMs, gone: (vm, goneMs) => parentPort!.postMessage({ event: 'gone', name: vm.spec.name, goneMs } satisfies ThreadEvent) });
const fleet = servedFleet({
  log,
  outputBudget: budget,
  maxVms: setup.maxVms,
  vmLog: (name) => createLogger(`qmpmux:${name}`, setup.logLevel as LogLevel),
  warmUp: setup.warmUp,
  metrics: registry,
  links,
});

parentPort!.on('message', (m: ThreadRequest) => {
  void answer(m).then((r) => parentPort!.postMessage(r));
});

async function answer(m: ThreadRequest): Promise<ThreadReply> {
  try {
    switch (m.op) {
      case 'sync':
        return { id: m.id, report: await fleet.sync(m.origin, m.specs.map((s) => fromWire(s, AVAILABLE_PLUGINS)), { atomic: m.atomic }) };
      case 'add':
        return { id: m.id, info: vmInfo(await fleet.add(fromWire(m.spec, AVAILABLE_PLUGINS))) };
      case 'remove':
        return { id: m.id, removed: await fleet.remove(m.name, m.why, m.origin) };
      case 'info':
        return { id: m.id, infos: fleet.list().map((vm) => ({ name: vm.spec.name, info: vmInfo(vm) })) };
      case 'metrics':
        return { id: m.id, metrics: registry ? await registry.json() : [] };
      case 'readiness':
        return { id: m.id, notReady: notReadyOf(fleet.proxies()) };
      case 'budget':
        budget.setLimit(m.bytes);
        return { id: m.id };
      case 'stop':
        links.stop();
        await fleet.stop();
        return { id: m.id };
    }
  } catch (e) {
    if (e instanceof FleetError) return { id: m.id, refusal: e.refusal };
    return { id: m.id, error: e instanceof ConfigError ? { path: e.path, problem: e.problem } : { problem: (e as Error).message } };
  }
}
