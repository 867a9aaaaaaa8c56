/**
 * Prometheus metrics for qmpmux, with prom-client. One MetricsRegistry per process; `observer(proxy)`
 * gives each Proxy an Observer (core/observe.ts) whose series carry `vm` = Proxy.name.
 * Command labels are bounded: a name outside QEMU's live `query-commands` of the link and qmpmux's own
 * commands is counted as `other`.
 */
import client from 'prom-client';
import type { Observer, Proxy } from '@qmpmux/core';

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];
const STATES = ['idle', 'connecting', 'negotiating', 'ready', 'closed'] as const;

export class MetricsRegistry {
  readonly registry = new client.Registry();
  /** Per VM: the command names that may be labels (refreshed when its link becomes ready). */
  private readonly known = new Map<string, Set<string>>();
  private readonly proxies = new Set<Proxy>();
  private readonly commands = new client.Counter({ name: 'qmpmux_commands_total', help: 'Commands answered, by command, outcome and source', labelNames: ['vm', 'command', 'outcome', 'source'], registers: [this.registry] });
  private readonly latency = new client.Histogram({ name: 'qmpmux_command_duration_seconds', help: 'Command latency: read from the client to reply written', labelNames: ['vm', 'command'], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  private readonly upstreamLatency = new client.Histogram({ name: 'qmpmux_upstream_duration_seconds', help: 'The upstream part: written to QEMU to reply read', labelNames: ['vm', 'command'], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  private readonly upState = new client.Gauge({ name: 'qmpmux_upstream_state', help: '1 for the current state of the QEMU link', labelNames: ['vm', 'state'], registers: [this.registry] });
  private readonly reconnects = new client.Counter({ name: 'qmpmux_upstream_reconnects_total', help: 'Times the QEMU link was lost after being ready', labelNames: ['vm'], registers: [this.registry] });
  private readonly events = new client.Counter({ name: 'qmpmux_events_total', help: 'Events from QEMU, by name', labelNames: ['vm', 'event'], registers: [this.registry] });
  private readonly connects = new client.Counter({ name: 'qmpmux_client_connections_total', help: 'Client connections accepted, by transport', labelNames: ['vm', 'transport'], registers: [this.registry] });
  private readonly disconnects = new client.Counter({ name: 'qmpmux_client_disconnects_total', help: 'Client disconnects, by reason', labelNames: ['vm', 'transport', 'reason'], registers: [this.registry] });
  private readonly cacheHits = new client.Counter({ name: 'qmpmux_query_cache_hits_total', help: 'Answers served from the query cache', labelNames: ['vm', 'command'], registers: [this.registry] });
  private readonly joined = new client.Counter({ name: 'qmpmux_single_flight_joined_total', help: 'Commands that shared an identical pure query instead of going to QEMU', labelNames: ['vm', 'command'], registers: [this.registry] });

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics !== false) client.collectDefaultMetrics({ register: this.registry });
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
    gauge('qmpmux_query_cache_entries', 'Answers held in the query cache', [], (p, set) => set({}, p.gauges().cacheEntries));
  }

  /** A counter for a plugin (e.g. audit records); same registry, `vm` label. */
  counter(name: string, help: string, labelNames: string[] = []): client.Counter {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as client.Counter;
    return new client.Counter({ name, help, labelNames: ['vm', ...labelNames], registers: [this.registry] });
  }

  /** The Observer to give Proxy.create (its `vm` is the name it will have). */
  observer(vm: string): Observer {
    const label = (command: string) => (this.known.get(vm)?.has(command) ? command : 'other');
    let wasReady = false;
    return {
      commandReplied: (command, outcome, source, s) => {
        const c = label(command);
        this.commands.inc({ vm, command: c, outcome, source });
        this.latency.observe({ vm, command: c }, s);
      },
      upstreamReplied: (command, s) => this.upstreamLatency.observe({ vm, command: label(command) }, s),
      upstreamState: (state) => {
        for (const st of STATES) this.upState.set({ vm, state: st }, st === state ? 1 : 0);
        if (state === 'ready') wasReady = true;
        else if (wasReady && state === 'connecting') {
          wasReady = false;
          this.reconnects.inc({ vm });
        }
      },
      event: (name) => this.events.inc({ vm, event: name.length <= 64 && /^[A-Z0-9_]+$/.test(name) ? name : 'other' }),
      clientConnected: (transport) => this.connects.inc({ vm, transport }),
      clientDisconnected: (transport, reason) => this.disconnects.inc({ vm, transport, reason }),
      cacheHit: (command) => this.cacheHits.inc({ vm, command: label(command) }),
      singleFlightJoined: (command) => this.joined.inc({ vm, command: label(command) }),
    };
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
  get contentType(): string {
    return this.registry.contentType;
  }
}
