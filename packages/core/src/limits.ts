/**
 * Every bound qmpmux keeps, with its default. The README's table of limits is this file.
 * All are settable in the config file under "limits".
 */
export interface Limits {
  /** Largest client message, from its first token to its last (QEMU: 64 MiB). Larger: error + disconnect. */
  maxMessageBytes: number;
  /** Unparsed client input held while the client waits for replies; reading pauses above it. */
  maxClientInputBytes: number;
  /** Output queued to one client; a client that lets it fill is disconnected. */
  maxClientOutputBytes: number;
  /**
   * Output queued to all clients together, every VM of the process (output-budget.ts). Over it, the
   * clients with the largest queues are disconnected, as slow consumers, until the total is under it.
   */
  maxTotalClientOutputBytes: number;
  /**
   * How long a client being closed with a last message (refused, QEMU gone, shutdown, message too
   * large) has to read its remaining output before its connection is dropped (ms); meanwhile that
   * output still counts against maxTotalClientOutputBytes.
   */
  closeFlushMs: number;
  /** Connected clients (including those waiting for QEMU). Further connections are refused. */
  maxClients: number;
  /** In-band commands one OOB-negotiated client may have queued or running (QEMU: 8). */
  maxClientInbandQueue: number;
  /** exec-oob commands one client may have in flight; its input is not read further meanwhile. */
  maxClientOobInflight: number;
  /** In-band commands in flight to QEMU at once, all clients together (QEMU queues 8 with OOB). */
  maxUpstreamInflight: number;
  /** File descriptors held for one client, waiting for a command to consume them. */
  maxClientPendingFds: number;
  /** How long a client connecting while QEMU is unreachable waits before it is refused (ms). */
  upstreamWaitMs: number;
  /** Reconnect backoff to QEMU: first delay and cap (ms). */
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** Largest message read from QEMU (query-qmp-schema is ~200 KB); larger drops the link. */
  maxUpstreamMessageBytes: number;
  /** Commands issued by plugins themselves, queued at once. */
  maxInternalQueue: number;
  /** Events waiting for plugin hooks before upstream reading pauses. */
  maxPendingEvents: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxMessageBytes: 1024 * 1024,
  maxClientInputBytes: 1024 * 1024,
  maxClientOutputBytes: 16 * 1024 * 1024,
  maxTotalClientOutputBytes: 256 * 1024 * 1024,
  closeFlushMs: 5_000,
  maxClients: 1024,
  maxClientInbandQueue: 8,
  maxClientOobInflight: 64,
  maxUpstreamInflight: 8,
  maxClientPendingFds: 253,
  upstreamWaitMs: 10_000,
  reconnectMinMs: 100,
  reconnectMaxMs: 5_000,
  maxUpstreamMessageBytes: 64 * 1024 * 1024,
  maxInternalQueue: 1024,
  maxPendingEvents: 4096,
});
