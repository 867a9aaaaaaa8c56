/**
 * What the core reports about itself, for metrics (packages/metrics implements it with prom-client;
 * the core itself knows nothing of Prometheus). Every method is called synchronously on the hot path:
 * implementations must be cheap and must never throw. The default is NO_OBSERVER (does nothing).
 *
 * Call points:
 *  - commandReplied: when a client's reply is handed to its connection (latency = read → written);
 *  - upstreamReplied: when QEMU's reply arrives (latency = written to QEMU → reply read);
 *  - upstreamState: every state change of the link; a reconnect is `connecting` after `ready`;
 *  - event: every event QEMU sends, by name;
 *  - clientConnected / clientDisconnected (with the reason, one of DISCONNECT_REASONS);
 *  - cacheHit: an answer served from the query cache; singleFlightJoined: a command that shared
 *    another client's identical command instead of going to QEMU itself;
 *  - counter: a plugin's own counter (PluginContext.metrics), asked for once, at the plugin's creation.
 * Gauges (fds held, queue depths) are read when scraped, through `Proxy.gauges()`.
 */
import type { UpstreamState } from './upstream-state.ts';

export type ReplySource = 'qemu' | 'plugin' | 'qmpmux' | 'cache';
export type ReplyOutcome = 'ok' | 'error';

/** Why a client went away (bounded: these and nothing else). */
export const DISCONNECT_REASONS = ['closed', 'slow_consumer', 'message_too_large', 'upstream_lost', 'refused', 'shutdown', 'kicked'] as const;
export type DisconnectReason = (typeof DISCONNECT_REASONS)[number];

export interface Observer {
  commandReplied(command: string, outcome: ReplyOutcome, source: ReplySource, seconds: number): void;
  upstreamReplied(command: string, seconds: number): void;
  upstreamState(state: UpstreamState): void;
  event(name: string): void;
  clientConnected(transport: string): void;
  clientDisconnected(transport: string, reason: DisconnectReason): void;
  cacheHit(command: string): void;
  singleFlightJoined(command: string): void;
  /** A plugin's counter (already checked by the core: see PluginMetrics); series carry `vm` too. */
  counter(name: string, help: string, labelNames: readonly string[]): PluginCounter;
  /**
   * Optional: an observer made by the same code that reports nowhere, for the warm-up before
   * listening (warm-up.ts), so the real observer's code is compiled before the first client and
   * nothing the warm-up does is counted.
   */
  warmUpTwin?(): Observer;
}

/** A counter a plugin increments; labels must be the ones it declared (bounded values: its job). */
export interface PluginCounter {
  inc(labels?: Record<string, string>, value?: number): void;
}

/**
 * What a plugin reports to metrics (PluginContext.metrics), without knowing what collects it
 * (packages/metrics exports it as Prometheus counters; without metrics nothing is kept).
 */
export interface PluginMetrics {
  /**
   * A counter named `qmpmux_…_total` (lower case, digits and `_`), with these label names (never
   * `vm`: every series carries the VM's name). Ask once, in `create()`; the same name asked again
   * (by another VM's instance of the plugin) is the same counter. Throws TypeError on a bad name.
   */
  counter(name: string, help: string, labelNames?: readonly string[]): PluginCounter;
}

const nothing = () => {};
const NO_COUNTER: PluginCounter = { inc: nothing };

const METRIC_NAME = /^qmpmux_[a-z0-9_]+_total$/;
const LABEL_NAME = /^[a-z_][a-z0-9_]*$/;

/** Counters that count nothing (a PluginContext built by hand, in tests). */
export const NO_METRICS: PluginMetrics = { counter: () => NO_COUNTER };

/** The PluginMetrics a plugin gets: names checked here, counters from the observer. */
export function pluginMetrics(observer: Observer, plugin: string): PluginMetrics {
  return {
    counter(name, help, labelNames = []) {
      if (!METRIC_NAME.test(name)) throw new TypeError(`plugin '${plugin}': metric name '${name}' must match ${METRIC_NAME.source}`);
      for (const l of labelNames) {
        if (!LABEL_NAME.test(l) || l === 'vm' || l.startsWith('__')) throw new TypeError(`plugin '${plugin}': label name '${l}' of ${name} is not allowed`);
      }
      return observer.counter(name, help, labelNames);
    },
  };
}


export const NO_OBSERVER: Observer = {
  commandReplied: nothing,
  upstreamReplied: nothing,
  upstreamState: nothing,
  event: nothing,
  clientConnected: nothing,
  clientDisconnected: nothing,
  cacheHit: nothing,
  singleFlightJoined: nothing,
  counter: () => NO_COUNTER,
};

/** Point-in-time figures, read at scrape time. */
export interface ProxyGauges {
  clientsByTransport: Record<string, number>;
  /** fds qmpmux holds on behalf of clients (received, not yet consumed or closed). */
  pendingFds: number;
  /** Output queued to this VM's clients, as the process-wide output budget counts it (bytes). */
  clientOutputBytes: number;
  /** In-band commands waiting in clients' queues for the dispatcher. */
  upstreamQueued: number;
  /** Commands written to QEMU and not answered yet. */
  upstreamInflight: number;
  /** Events waiting for the plugins' onEvent hooks. */
  pendingEvents: number;
  /** Entries in the query cache (answers + policy views). */
  cacheEntries: number;
}

/** Map a disconnect reason text from the core to its bounded label. */
export function disconnectReason(text: string): DisconnectReason {
  if (text === 'connection closed') return 'closed';
  if (text === 'output buffer full') return 'slow_consumer';
  if (text === 'message too large') return 'message_too_large';
  if (text === 'QEMU monitor connection lost') return 'upstream_lost';
  if (text === 'qmpmux is shutting down') return 'shutdown';
  if (text.startsWith('qmpmux: ')) return 'refused';
  return 'kicked';
}
