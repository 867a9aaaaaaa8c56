/**
 * Prometheus metrics for qmpmux, with prom-client. One MetricsRegistry per process; `observer(vm)`
 * gives each Proxy an Observer (core/observe.ts) whose series carry `vm` = Proxy.name.
 * Command labels are bounded: a name outside QEMU's live `query-commands` of the link and qmpmux's own
 * commands is counted as `other`; an event name that is not `[A-Z0-9_]{1,64}` is `other`.
 * Plugins' counters (PluginContext.metrics) land in the same registry, with `vm` added.
 */
import client from 'prom-client';
import type { Observer, PluginCounter, Proxy } from '@qmpmux/core';

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];
const STATES = ['idle', 'connecting', 'negotiating', 'ready', 'closed'] as const;
const EVENT_NAME = /^[A-Z0-9_]{1,64}$/;

/** The series the core's Observer feeds, in one registry. */
function coreMetrics(registry: client.Registry) {
  const registers = [registry];
  return {
    commands: new client.Counter({ name: 'qmpmux_commands_total', help: 'Commands answered, by command, outcome and source', labelNames: ['vm', 'command', 'outcome', 'source'], registers }),
    latency: new client.Histogram({ name: 'qmpmux_command_duration_seconds', help: 'Command latency: read from the client to reply written', labelNames: ['vm', 'command'], buckets: LATENCY_BUCKETS, registers }),
    upstreamLatency: new client.Histogram({ name: 'qmpmux_upstream_duration_seconds', help: 'The upstream part: written to QEMU to reply read', labelNames: ['vm', 'command'], buckets: LATENCY_BUCKETS, registers }),
    upState: new client.Gauge({ name: 'qmpmux_upstream_state', help: '1 for the current state of the QEMU link', labelNames: ['vm', 'state'], registers }),
    reconnects: new client.Counter({ name: 'qmpmux_upstream_reconnects_total', help: 'Times the QEMU link was lost after being ready', labelNames: ['vm'], registers }),
    events: new client.Counter({ name: 'qmpmux_events_total', help: 'Events from QEMU, by name', labelNames: ['vm', 'event'], registers }),
    connects: new client.Counter({ name: 'qmpmux_client_connections_total', help: 'Client connections accepted, by transport', labelNames: ['vm', 'transport'], registers }),
    disconnects: new client.Counter({ name: 'qmpmux_client_disconnects_total', help: 'Client disconnects, by reason', labelNames: ['vm', 'transport', 'reason'], registers }),
    cacheHits: new client.Counter({ name: 'qmpmux_query_cache_hits_total', help: 'Answers served from the query cache', labelNames: ['vm', 'command'], registers }),
    joined: new client.Counter({ name: 'qmpmux_single_flight_joined_total', help: 'Commands that shared an identical pure query instead of going to QEMU', labelNames: ['vm', 'command'], registers }),
  };
}
type CoreMetrics = ReturnType<typeof coreMetrics>;

export class MetricsRegistry {
  readonly registry = new client.Registry();
  /** Per VM: the command names that may be labels (refreshed when its link becomes ready). */
  private readonly known = new Map<string, Set<string>>();
  private readonly proxies = new Set<Proxy>();
  private readonly m: CoreMetrics;
  /** Where warm-up twins report (a registry nobody scrapes), made on first use. */
  private scratch: CoreMetrics | undefined;

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics !== false) client.collectDefaultMetrics({ register: this.registry });
    this.m = coreMetrics(this.registry);
    const self = this;
    const gauge = (name: string, help: string, labels: string[], read: (p: Proxy, set: (l: Record<string, string>, v: number) => void) => void) =>
      new client.Gauge({
        name,
        help,
        labelNames: ['vm', ...labels],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const p of self.proxies) read(p, (l, v) => this.set({ vm: p.name, ...l }, v));
        },
      });
    gauge('qmpmux_clients', 'Connected clients, by transport', ['transport'], (p, set) => {
      for (const [t, n] of Object.entries(p.gauges().clientsByTransport)) set({ transport: t }, n);
    });
    gauge('qmpmux_fds_held', 'fds received from clients and not yet consumed or closed', [], (p, set) => set({}, p.gauges().pendingFds));
    gauge('qmpmux_queue_depth', 'Queue depths: upstream_queued, upstream_inflight, pending_events', ['queue'], (p, set) => {
      const g = p.gauges();
      set({ queue: 'upstream_queued' }, g.upstreamQueued);
      set({ queue: 'upstream_inflight' }, g.upstreamInflight);
      set({ queue: 'pending_events' }, g.pendingEvents);
    });
    gauge('qmpmux_client_output_bytes', "Output queued to this VM's clients (counted against maxTotalClientOutputBytes, one budget per process)", [], (p, set) => set({}, p.gauges().clientOutputBytes));
    gauge('qmpmux_query_cache_entries', 'Answers held in the query cache (and policy views of them)', [], (p, set) => set({}, p.gauges().cacheEntries));
  }

  /** The Observer to give Proxy.create (its `vm` is the name it will have). */
  observer(vm: string): Observer {
    return this.observerOn(vm, this.m, () => this.observerOn(vm, (this.scratch ??= coreMetrics(new client.Registry())), undefined));
  }

  /** One observer over a set of series; `twin` makes its warm-up twin (undefined: this is one). */
  private observerOn(vm: string, m: CoreMetrics, twin: (() => Observer) | undefined): Observer {
    const label = (command: string) => (this.known.get(vm)?.has(command) ? command : 'other');
    let wasReady = false;
    const self: Observer = {
      commandReplied: (command, outcome, source, s) => {
        const c = label(command);
        m.commands.inc({ vm, command: c, outcome, source });
        m.latency.observe({ vm, command: c }, s);
      },
      upstreamReplied: (command, s) => m.upstreamLatency.observe({ vm, command: label(command) }, s),
      upstreamState: (state) => {
        for (const st of STATES) m.upState.set({ vm, state: st }, st === state ? 1 : 0);
        if (state === 'ready') wasReady = true;
        else if (wasReady && state === 'connecting') {
          wasReady = false;
          m.reconnects.inc({ vm });
        }
      },
      event: (name) => m.events.inc({ vm, event: EVENT_NAME.test(name) ? name : 'other' }),
      clientConnected: (transport) => m.connects.inc({ vm, transport }),
      clientDisconnected: (transport, reason) => m.disconnects.inc({ vm, transport, reason }),
      cacheHit: (command) => m.cacheHits.inc({ vm, command: label(command) }),
      singleFlightJoined: (command) => m.joined.inc({ vm, command: label(command) }),
      counter: (name, help, labelNames) => this.pluginCounter(vm, name, help, labelNames),
      warmUpTwin: () => (twin ? twin() : self),
    };
    return self;
  }

  /** A plugin's counter (names checked by the core); one per name in the registry, `vm` added. */
  private pluginCounter(vm: string, name: string, help: string, labelNames: readonly string[]): PluginCounter {
    const want = ['vm', ...labelNames];
    let c = this.registry.getSingleMetric(name) as client.Counter | undefined;
    if (!c) c = new client.Counter({ name, help, labelNames: want, registers: [this.registry] });
    else if (!(c instanceof client.Counter) || JSON.stringify((c as unknown as { labelNames: string[] }).labelNames) !== JSON.stringify(want)) {
      throw new TypeError(`metric ${name} exists already with other labels or of another type`);
    }
    const counter = c;
    return { inc: (labels = {}, value = 1) => counter.inc({ ...labels, vm }, value) };
  }

  /**
   * With VM threads: per thread, the VMs it runs and how busy its event loop was since the previous
   * scrape (0–1: its share of wall time spent running, not waiting) — a hot thread shows here.
   * `source` gives one number per thread, in thread order.
   */
  threads(source: { vms(): number[]; utilization(): number[] }): void {
    const registers = [this.registry];
    const perThread = (name: string, help: string, read: () => number[]) =>
      new client.Gauge({
        name,
        help,
        labelNames: ['thread'],
        registers,
        collect() {
          for (const [i, v] of read().entries()) this.set({ thread: String(i) }, v);
        },
      });
    perThread('qmpmux_thread_vms', 'VMs run by each VM thread', () => source.vms());
    perThread('qmpmux_thread_event_loop_utilization', "Each VM thread's event-loop utilization since the previous scrape (0-1)", () => source.utilization());
  }

  /** Follow a proxy: gauges, and the command names its QEMU has (re-read at every connect). */
  attach(proxy: Proxy): () => void {
    this.proxies.add(proxy);
    const sub = proxy.upstreamState$.subscribe((s) => {
      if (s !== 'ready') return;
      proxy
        .execute('query-commands')
        .then((r) => {
          const names = new Set<string>((r as { name: string }[]).map((c) => c.name));
          for (const n of proxy.ownCommands) names.add(n);
          this.known.set(proxy.name, names);
        })
        .catch(() => {});
    });
    return () => {
      sub.unsubscribe();
      this.proxies.delete(proxy);
    };
  }

  /**
   * Drop every series of a VM that is gone for good (removed from the fleet), so series do not pile up
   * as VMs come and go. Nothing is dropped while a proxy of that name is attached (a VM restarted
   * under the same name keeps its series).
   */
  async forget(vm: string): Promise<void> {
    this.known.delete(vm);
    for (const m of this.registry.getMetricsAsArray()) {
      const metric = m as unknown as client.Counter; // every kind has get() and remove(labels)
      const labelNames = (metric as unknown as { labelNames?: string[] }).labelNames ?? [];
      if (!labelNames.includes('vm')) continue;
      const { values } = await metric.get();
      if ([...this.proxies].some((p) => p.name === vm)) return;
      const seen = new Set<string>();
      for (const { labels } of values) {
        if (labels.vm !== vm) continue;
        const own = Object.fromEntries(labelNames.filter((n) => n in labels).map((n) => [n, labels[n]!]));
        const key = JSON.stringify(own);
        if (seen.has(key)) continue;
        seen.add(key);
        metric.remove(own as client.LabelValues<string>);
      }
    }
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
  /** Every series as data (prom-client's getMetricsAsJSON), for a merge with other registries' (mergedMetrics). */
  json(): Promise<MetricsJson> {
    return this.registry.getMetricsAsJSON() as Promise<MetricsJson>;
  }
  get contentType(): string {
    return this.registry.contentType;
  }
}

/** A VM as a fleet's hooks see it (@qmpmux/fleet's RunningVm, by shape). */
interface FleetVm {
  readonly proxy: Proxy;
  readonly spec: { readonly name: string };
}

/**
 * The fleet hooks (FleetOptions' observer, onCreated, onStopped) that keep this registry in step with
 * a fleet's VMs: each VM's observer, its gauges read while its Proxy runs, and its series dropped once
 * no VM of that name runs any more (`running`: a VM restarted under its name keeps them).
 */
export function fleetMetricsHooks(metrics: MetricsRegistry, running: (name: string) => boolean) {
  const detach = new Map<Proxy, () => void>();
  return {
    observer: (name: string) => metrics.observer(name),
    onCreated(vm: FleetVm): void {
      detach.set(vm.proxy, metrics.attach(vm.proxy));
    },
    onStopped(vm: FleetVm): void {
      detach.get(vm.proxy)?.();
      detach.delete(vm.proxy);
      if (!running(vm.spec.name)) void metrics.forget(vm.spec.name);
    },
  };
}

/** A registry's series as data: what crosses from a VM thread to the main thread. */
export type MetricsJson = unknown[];

/**
 * The Prometheus text of several registries' series merged (prom-client's AggregatorRegistry, as for
 * cluster workers): the main thread's process metrics and each VM thread's VM series. Series with the
 * same name and labels are summed; VMs' series differ by their `vm` label.
 */
export async function mergedMetrics(parts: MetricsJson[]): Promise<string> {
  return client.AggregatorRegistry.aggregate(parts as Parameters<typeof client.AggregatorRegistry.aggregate>[0]).metrics();
}
