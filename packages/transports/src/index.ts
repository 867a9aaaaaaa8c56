export type { Conn, Listener, Peer, ConnectionHandler } from './conn.ts';
export { parseAddress, isLoopback, AddressError, type Address } from './address.ts';
export { listen, connect, type ListenOptions } from './open.ts';
export { fromNetSocket } from './tcp.ts';
export { TLS_HANDSHAKE_TIMEOUT_MS, type TlsListenOptions } from './tls.ts';
export { QMP_JSON, QMP_MSGPACK, TOKEN_PREFIX, WS_DEFAULTS, type WsListenOptions, type WsLog } from './ws-options.ts';
export { encodeTokenEntry, normalizeOrigin } from './ws-handshake.ts';
export { closeFds } from './fds.ts';
