/**
 * A Conn inside the process, no socket: what the core writes to it goes to `output`, and `input()`
 * hands bytes to the core as if a client had sent them. The warm-up's loopback client and plugins'
 * virtual clients (virtual-client.ts) run real Sessions over it.
 *
 * Each `write` is one whole message (the Conn contract), delivered synchronously. No fds travel: an
 * fd written to it is closed at once. `pause()`/`resume()` only record the core's wish: the caller
 * feeds one message at a time and waits for the answer, so input never piles up.
 */
import { closeFds, type Conn, type Peer } from '@qmpmux/transports';

export interface InProcessConn extends Conn {
  /** Bytes from the in-process client to the core (ignored once closed). */
  input(bytes: Buffer): void;
  /** The core ended or destroyed the connection (or the client closed it). */
  readonly closed: boolean;
  /** The in-process client hangs up: the core sees the connection close. */
  hangUp(): void;
}

export interface InProcessHandlers {
  /** One message the core wrote. */
  output(data: Buffer): void;
  /** The connection closed (once). */
  closed(): void;
}

export function inProcessConn(peer: Peer, h: InProcessHandlers): InProcessConn {
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    h.closed();
  };
  const conn: InProcessConn = {
    peer,
    writableLength: 0,
    onData: () => {},
    onClose: () => {},
    onDrain: () => {},
    start() {},
    write(data, fds) {
      if (fds?.length) closeFds(fds);
      if (!closed) h.output(data);
    },
    pause() {},
    resume() {},
    end: close,
    destroy: close,
    input(bytes) {
      if (!closed) conn.onData(bytes, []);
    },
    get closed() {
      return closed;
    },
    hangUp() {
      if (closed) return;
      conn.onClose();
      close();
    },
  };
  return conn;
}
