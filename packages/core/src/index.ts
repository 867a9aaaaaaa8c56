/**
 * What plugins and the CLI use. The plugin contract (types.ts, own-command.ts, errors.ts) and the
 * pieces the CLI assembles a proxy from; the core's internals (sessions, the upstream link, the
 * plugin host) stay inside.
 */
export { Proxy, type ProxyOptions, type PluginSpec } from './proxy.ts';
export { DEFAULT_UNIX_MODE, DEFAULT_VM_NAME, VM_NAME } from './vm-name.ts';
export { DEFAULT_LIMITS, type Limits } from './limits.ts';
export { OutputBudget, type OutputAccount } from './output-budget.ts';
export { QMPMUX_ERRORS, refuse, errorText, errorLine, QmpCommandError, UpstreamLostError, type QmpmuxErrorCode, type Refusal } from './errors.ts';
export { ConfigError } from './config-error.ts';
export { parseConfig, loadConfig, resolvePlugins, resolvePluginEntries, isFleet, threadsOf, MAX_THREADS, AUTO_THREADS_MAX, type QmpmuxConfig } from './config.ts';
export { parseVmEntry, listenKey, DEFAULT_FLEET_LIMITS, type VmConfig, type DiscoverConfig, type FleetLimits, type PluginEntry } from './config-fleet.ts';
export { LocalMonitor, type LocalMonitorOptions, type MonitorVersion } from './local-monitor.ts';
export { createLogger, type Logger, type LogLevel, type LogSink } from './log.ts';
export * as validate from './validate.ts';
export * from './types.ts';
export { ownCommand, answer, type OwnCommand, type OwnType, type OwnMembers, type OwnBuiltinType, type OwnAnswer, type ArgsOf } from './own-command.ts';
export type { UpstreamState } from './upstream-state.ts';
export { peerRecord, PEER_RECORD_TYPE, type PeerRecord } from './peer-record.ts';
export { NO_OBSERVER, NO_METRICS, DISCONNECT_REASONS, type Observer, type ProxyGauges, type ReplySource, type ReplyOutcome, type DisconnectReason, type PluginCounter, type PluginMetrics } from './observe.ts';
export { CACHED_QUERIES, SINGLE_FLIGHT_QUERIES } from './query-cache.ts';
export { acquireLockFile, LockFileError } from './lock-file.ts';
export { inspectRequest, type RequestCheck } from './virtual-client.ts';
