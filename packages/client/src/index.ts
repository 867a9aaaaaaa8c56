export { QmpClient, type ClientOptions, type ReconnectOptions } from './client.ts';
export {
  QmpError,
  QmpConnectionError,
  QmpDisconnectedError,
  QmpNotConnectedError,
  QmpTooManyPendingError,
  isQmpErrorClass,
  type QmpErrorClass,
} from './errors.ts';
export type {
  ArgsOf,
  CommandNameOf,
  CommandSpec,
  CommandsOf,
  ExecuteOptionsOf,
  ExecuteRest,
  ExtensionCommands,
  NoArguments,
  OobCheck,
  OobCommandNameOf,
  OobOptions,
  QmpClientState,
  QmpEventMessage,
  QmpGreeting,
  QmpTimestamp,
  QmpTypedEvent,
  ReturnOf,
  UntypedCommandName,
  UntypedExecuteOptions,
} from './types.ts';
export { connectWebSocket, isWebSocketAddress, WebSocketHandshakeError, type WebSocketClientOptions } from './ws.ts';
export type { QmpCommands, QmpEvents, QmpCommandName, QmpEventName, QmpOobCommandName } from '@qmpmux/qapi-types';
