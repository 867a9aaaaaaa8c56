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
 *    another client's identical command instead of going to QEMU itself.
 * Gauges (fds held, queue depths) are read when scraped, through `Proxy.gauges()`.
 */
import type { UpstreamState } from './upstream.ts';

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
}

const nothing = () => {};
export const NO_OBSERVER: Observer = {
  commandReplied: nothing,
  upstreamReplied: nothing,
  upstreamState: nothing,
  event: nothing,
  clientConnected: nothing,
  clientDisconnected: nothing,
  cacheHit: nothing,
  singleFlightJoined: nothing,
};

/** Point-in-time figures, read at scrape time. */
export interface ProxyGauges {
  clientsByTransport: Record<string, number>;
  /** fds qmpmux holds on behalf of clients (received, not yet consumed or closed). */
  pendingFds: number;
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
