/** Unix stream sockets with SCM_RIGHTS fd passing and peer credentials, through @qmpmux/unixfd. */
import { UnixServer, UnixSocket } from '@qmpmux/unixfd';
import type { Conn, ConnectionHandler, Listener, Peer } from './conn.ts';
import { streamConn } from './conn.ts';

export function fromUnixSocket(sock: UnixSocket, address: string): Conn {
  const peer: Peer = { transport: 'unix', address, pid: sock.peer.pid, uid: sock.peer.uid, gid: sock.peer.gid };
  // 'drain' as soon as anything waited in the socket: further output waits in the Conn's OutputQueue.
  sock.highWaterMark = 0;
  const { conn, drained, closed } = streamConn(peer, {
    get writableLength() {
      return sock.writableLength;
    },
    write: (data, fds) => sock.write(data, fds),
    pauseReading: () => sock.pause(),
    resumeReading: () => sock.resume(),
    end: () => sock.end(),
    destroy: () => sock.destroy(),
  });
  sock.on('data', (chunk: Buffer, fds: number[]) => conn.onData(chunk, fds));
  sock.on('drain', drained);
  sock.on('close', (err?: Error) => closed(err));
  return conn;
}

export async function listenUnix(address: string, path: string, onConn: ConnectionHandler, mode?: number): Promise<Listener> {
  const server = await UnixServer.listen(path, mode === undefined ? {} : { mode });
  server.on('connection', (sock: UnixSocket) => onConn(fromUnixSocket(sock, path)));
  return { address, bound: address, close: () => server.close() };
}

export async function connectUnix(path: string): Promise<Conn> {
  return fromUnixSocket(await UnixSocket.connect(path), path);
}
