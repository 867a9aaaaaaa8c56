/**
 * The Fleet of a thread that runs VMs — the main thread (serve.ts) or a VM thread (serve-thread.ts) —
 * with what serve hangs on it in either: the metrics of its VMs (with --http: each VM's observer, its
 * gauges while it runs, its series dropped once gone) and the watch of discovered VMs' QEMU links.
 */
import { Fleet, type FleetOptions, type LinkWatch } from '@qmpmux/fleet';
import { fleetMetricsHooks, type MetricsRegistry } from '@qmpmux/metrics';

export interface ServedFleetOptions extends Omit<FleetOptions, 'observer' | 'onCreated' | 'onStarted' | 'onStopped'> {
  /** Where this thread's VM series go (--http). */
  metrics?: MetricsRegistry;
  links: LinkWatch;
}

export function servedFleet({ metrics, links, ...opts }: ServedFleetOptions): Fleet {
  const hooks = metrics && fleetMetricsHooks(metrics, (name) => fleet.get(name) !== undefined);
  const fleet: Fleet = new Fleet({
    ...opts,
    observer: hooks?.observer,
    onCreated: hooks?.onCreated,
    onStarted: (vm) => links.onStarted(vm),
    onStopped: (vm) => {
      hooks?.onStopped(vm);
      links.onStopped(vm);
    },
  });
  return fleet;
}
