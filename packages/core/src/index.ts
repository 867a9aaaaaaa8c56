export { Proxy, type ProxyOptions, type PluginSpec } from './proxy.ts';
export { DEFAULT_VM_NAME, VM_NAME } from './vm-name.ts';
export { UpstreamLink, FD_CONSUMERS, type UpstreamState } from './upstream.ts';
export { Session, type SessionPhase } from './session.ts';
export { PluginHost, PluginError } from './plugin-host.ts';
export { DEFAULT_LIMITS, type Limits } from './limits.ts';
export { QMPMUX_ERRORS, QmpmuxError, QmpCommandError, UpstreamLostError } from './errors.ts';
export { ConfigError } from './config-error.ts';
export { parseConfig, loadConfig, resolvePlugins, type QmpmuxConfig } from './config.ts';
export { createLogger, type Logger, type LogLevel, type LogSink } from './log.ts';
export * as validate from './validate.ts';
export * from './types.ts';
export {
  collectOwnCommands,
  extendIntrospection,
  extendQmpSchema,
  extendQueryCommands,
  ownCommandName,
  INTROSPECTION_COMMANDS,
  type OwnBuiltinType,
  type OwnCommand,
  type OwnCommandDeclaration,
  type OwnType,
} from './introspection.ts';
export { NO_OBSERVER, DISCONNECT_REASONS, type Observer, type ProxyGauges, type ReplySource, type ReplyOutcome, type DisconnectReason } from './observe.ts';
export { CACHED_QUERIES, SINGLE_FLIGHT_QUERIES } from './query-cache.ts';
