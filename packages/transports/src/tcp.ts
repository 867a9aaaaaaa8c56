/** TCP (and, through the same wrapper, TLS) byte streams as `Conn`s. No fd passing. */
import net from 'node:net';
import { closeFds } from './fds.ts';
import type { Conn, Listener, ConnectionHandler, Peer } from './conn.ts';
import { streamConn } from './conn.ts';

export function fromNetSocket(sock: net.Socket, peer: Peer): Conn {
  sock.pause();
  sock.setNoDelay(true);
  let done = false;
  let holding = false;
  // One callback for every write (no allocation per write): once the socket has written out all it
  // held, further output waiting in the Conn's OutputQueue is handed over.
  const written = () => {
    if (holding && sock.writableLength === 0) {
      holding = false;
      drained();
    }
  };
  const { conn, drained, closed } = streamConn(peer, {
    get writableLength() {
      return sock.writableLength;
    },
    write(data, fds) {
      // A stream socket cannot carry fds: they are closed here, as the contract says.
      closeFds(fds);
      if (sock.destroyed) return true;
      sock.write(data, written);
      holding = sock.writableLength > 0;
      return !holding;
    },
    pauseReading: () => sock.pause(),
    resumeReading: () => sock.resume(),
    end: () => sock.end(),
    destroy: () => sock.destroy(),
  });
  sock.on('data', (chunk: Buffer) => conn.onData(chunk, []));
  sock.on('end', () => sock.end());
  sock.on('error', () => {}); // reported through 'close'
  sock.on('close', (hadError: boolean) => {
    if (done) return;
    done = true;
    closed(hadError ? new Error('connection reset') : undefined);
  });
  return conn;
}

function tcpPeer(sock: net.Socket, transport: 'tcp' | 'tls'): Peer {
  const host = sock.remoteAddress ?? '?';
  return { transport, address: `${host.includes(':') ? `[${host}]` : host}:${sock.remotePort}` };
}

export async function listenTcp(address: string, host: string, port: number, onConn: ConnectionHandler): Promise<Listener> {
  const server = net.createServer({ pauseOnConnect: true, noDelay: true }, (sock) => onConn(fromNetSocket(sock, tcpPeer(sock, 'tcp'))));
  return listenServer(server, address, host, port);
}

export async function listenServer(server: net.Server, address: string, host: string, port: number): Promise<Listener> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as net.AddressInfo;
  return {
    address,
    bound: `${address.split(':')[0]}:${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    // Stop listening now; connections already accepted belong to the core, which closes them
    // (net.Server's close callback would wait for all of them).
    close: async () => {
      server.close();
    },
  };
}

export async function connectTcp(host: string, port: number): Promise<Conn> {
  const sock = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host, port, noDelay: true });
    s.once('error', reject);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
  });
  return fromNetSocket(sock, { transport: 'tcp', address: `${host}:${port}` });
}
