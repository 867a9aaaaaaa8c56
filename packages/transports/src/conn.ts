/**
 * The one shape every byte stream has inside qmpmux, whatever carries it (unix socket, TCP, TLS,
 * WebSocket). The core reads and writes through it and never sees the transport.
 *
 * Contract:
 * - Handlers are attached first, then `start()` begins reading; no callback fires before `start()`.
 * - `onData(chunk, fds)`: `fds` are file descriptors that arrived with this chunk (unix only); the
 *   receiver owns them and must close or forward them.
 * - `write(data, fds)`: one call carries one whole QMP message; transports that frame (WebSocket)
 *   send it as one frame. `fds` are owned by the transport from then on: sent with the first byte of
 *   `data` and closed once sent (or closed if the connection dies first).
 * - `onClose(err?)` fires exactly once; after it nothing else fires.
 */
import { OutputQueue, type OutputSink } from './output-queue.ts';

export interface Peer {
  /** How the peer reached us; `virtual`: an in-process client a plugin opened (ProxyApi.openVirtualClient). */
  transport: 'unix' | 'tcp' | 'tls' | 'ws' | 'wss' | 'virtual';
  /** Human-readable peer address (socket path, host:port). */
  address: string;
  /** SO_PEERCRED of a unix peer. */
  pid?: number;
  uid?: number;
  gid?: number;
  /**
   * TLS client certificate, when one was presented and verified. `subject` in certificate order with
   * RFC 4514 escaping (`O=Example\, Inc,CN=ops`); `subjectAltNames` as `DNS:a.example`,
   * `IP Address:10.0.0.1`, `URI:spiffe://…`, `email:…`; `fingerprint256` as `AB:CD:…`.
   */
  certificate?: { subject: string; subjectAltNames: string[]; fingerprint256: string };
  /** A bearer token presented by the peer (WebSocket), checked by the policy plugin. */
  token?: string;
  /**
   * Set only for `transport: 'virtual'`, by the core, from what the plugin that opened the client
   * declared: what carries it (`nats`) and the principal it acts as. No network transport sets it, so
   * no network client can claim it; the policy plugin takes `principal` as the client's principal.
   */
  virtual?: { readonly via: string; readonly principal: string };
}

export interface Conn {
  readonly peer: Peer;
  /**
   * Memory the connection's output holds: bytes accepted by write() and not yet handed to the kernel,
   * plus what their queue entries cost (output-queue.ts). A Buffer written to several connections
   * (an event) is counted in each.
   */
  readonly writableLength: number;
  onData: (chunk: Buffer, fds: number[]) => void;
  onClose: (err?: Error) => void;
  /**
   * Queued output went out (writableLength fell). Not called for writes that went out at once: after
   * write(), read writableLength.
   */
  onDrain: () => void;
  start(): void;
  write(data: Buffer, fds?: number[]): void;
  pause(): void;
  resume(): void;
  /** Flush, then close. */
  end(): void;
  /** Close now, dropping queued output. */
  destroy(): void;
}

export interface Listener {
  /** The address as given (e.g. `unix:/run/qmpmux.sock`). */
  readonly address: string;
  /** The address actually bound (e.g. the port chosen for `tcp:127.0.0.1:0`). */
  readonly bound: string;
  close(): Promise<void>;
}

export type ConnectionHandler = (conn: Conn) => void;

const noop = (): void => {};
/** Default no-op handlers, so a Conn is usable before the core attaches its own. */
export const unattached = { onData: noop as Conn['onData'], onClose: noop as Conn['onClose'], onDrain: noop as Conn['onDrain'] };

/** The I/O a byte-stream transport provides; `streamConn` adds the Conn contract around it. */
export interface StreamIo extends OutputSink {
  pauseReading(): void;
  resumeReading(): void;
  /** Flush what the transport holds, then close. */
  end(): void;
  destroy(): void;
}

/** A Conn over a byte stream, and the two signals its transport must give it. */
export interface StreamConn {
  conn: Conn;
  /** The transport has written out everything it held (see OutputSink.write). */
  drained(): void;
  /** The transport closed (exactly once). */
  closed(err?: Error): void;
}

/**
 * A Conn over a byte stream: nothing is read before start(), pause()/resume() from the core compose
 * with it (a pause before start() holds after start()), and output waits in an OutputQueue while the
 * peer does not keep up.
 */
export function streamConn(peer: Peer, io: StreamIo): StreamConn {
  let started = false;
  let paused = false;
  const out = new OutputQueue(io);
  const conn: Conn = {
    peer,
    get writableLength() {
      return out.writableLength;
    },
    ...unattached,
    start() {
      if (started) return;
      started = true;
      if (!paused) io.resumeReading();
    },
    write: (data, fds) => out.write(data, fds),
    pause() {
      paused = true;
      io.pauseReading();
    },
    resume() {
      paused = false;
      if (started) io.resumeReading();
    },
    end: () => out.afterQueued(() => io.end()),
    destroy() {
      out.clear();
      io.destroy();
    },
  };
  out.onProgress = () => conn.onDrain();
  return {
    conn,
    drained: () => out.drained(),
    closed(err) {
      out.clear();
      conn.onClose(err);
    },
  };
}
