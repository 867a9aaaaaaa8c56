export type { Conn, Listener, Peer, ConnectionHandler } from './conn.ts';
export { parseAddress, isLoopback, AddressError, type Address } from './address.ts';
export { listen, connect, type ListenOptions } from './open.ts';
export { fromNetSocket } from './tcp.ts';
