/**
 * @qmpmux/unixfd: Unix stream sockets with fd passing (SCM_RIGHTS) and peer
 * credentials (SO_PEERCRED), on Node's event loop through a small N-API addon.
 *
 * Safety by construction:
 *  - A UnixSocket exists only fully connected (UnixSocket.connect() resolves
 *    after the connect completed; UnixServer hands out accepted sockets) and
 *    starts PAUSED: no event can fire before the owner attached listeners
 *    and called resume().
 *  - 'error' is never emitted; errors arrive as the argument of 'close',
 *    which fires exactly once, asynchronously, after the fd is closed.
 *  - Exceptions thrown by listeners are re-thrown as uncaught exceptions on
 *    the next tick, as Node does for its own sockets; they never unwind the
 *    native read loop.
 */
import { EventEmitter } from 'node:events';
import { lstatSync, readdirSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoError } from './errors.ts';
import { native, type NativeHandle } from './native.ts';

export { errnoError, type ErrnoError } from './errors.ts';

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** SCM_MAX_FD: the kernel refuses more fds in one sendmsg(). */
export const MAX_FDS_PER_MESSAGE = 253;

const DEFAULT_HIGH_WATER_MARK = 64 * 1024;
const MAX_IOV = 64; // buffers coalesced into one sendmsg (matches the C side)
const CONNECT_EAGAIN_TIMEOUT_MS = 2000; // a full listen backlog is retried this long
const ACCEPT_BACKOFF_MS = 100; // pause after EMFILE & co. instead of spinning
const E = osConstants.errno;

const internal = Symbol('unixfd.internal');

type SocketEvents = {
  data: [chunk: Buffer, fds: number[]];
  drain: [];
  end: [];
  close: [err?: Error];
};

type ServerEvents = {
  connection: [sock: UnixSocket];
  close: [];
  // EventEmitter's own; listed so the server can track 'connection' listeners.
  newListener: [event: string | symbol, listener: (...args: any[]) => void];
  removeListener: [event: string | symbol, listener: (...args: any[]) => void];
};

interface Pending {
  buf: Uint8Array;
  off: number; // bytes of buf already written
  fds: number[]; // still owned by us; sent with buf's first byte
}

function isFd(fd: unknown): fd is number {
  return Number.isInteger(fd) && (fd as number) >= 0 && (fd as number) <= 0x7fffffff;
}

function closeAll(fds: readonly number[]): void {
  const n = native();
  for (const fd of fds) n.close(fd);
}

/** Runs a listener-facing step; listener exceptions become uncaught exceptions on the next tick. */
function guarded(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}

/**
 * Wraps a connected socket fd. The UnixSocket's native Handle owns the fd from its
 * construction on. On failure, closeOnFailure says who cleans up: true for our own
 * connect(); false for an accepted fd, which the addon closes unless a Handle took it.
 */
function adopt(fd: number, closeOnFailure: boolean): UnixSocket {
  const n = native();
  const cred = n.peercred(fd);
  if (typeof cred === 'number') {
    if (closeOnFailure) n.close(fd);
    throw errnoError(-cred, 'getsockopt');
  }
  try {
    return new UnixSocket(internal, fd, { pid: cred[0], uid: cred[1], gid: cred[2] });
  } catch (err) {
    if (closeOnFailure) n.close(fd);
    throw err;
  }
}

export class UnixSocket extends EventEmitter<SocketEvents> {
  /** write() returns false once more than this many bytes are queued. */
  highWaterMark = DEFAULT_HIGH_WATER_MARK;

  #fd: number;
  readonly #peer: PeerCredentials;
  readonly #handle: NativeHandle;
  #queue: Pending[] = [];
  #head = 0; // index of the first pending entry in #queue
  #queued = 0; // bytes not yet written
  #paused = true;
  /** Events armed on the poll handle; uv_poll_start() re-registers with epoll, so only on change. */
  #armed = -1;
  #ending = false;
  #closing = false;
  #closeErr: Error | undefined;
  #needDrain = false;

  /** Not public: use UnixSocket.connect() or UnixServer's 'connection' event. */
  constructor(token: symbol, fd: number, peer: PeerCredentials) {
    if (token !== internal) {
      throw new TypeError('UnixSocket cannot be constructed directly: use UnixSocket.connect() or UnixServer.listen()');
    }
    super();
    this.#fd = fd;
    this.#peer = Object.freeze({ ...peer });
    const n = native();
    // The handle starts with no events armed: nothing can fire until resume() or a blocked write.
    this.#handle = new n.Handle(fd, false, (kind, a, b) => {
      if (kind === n.EV_DATA) this.#onData(a as Buffer, b as number[]);
      else if (kind === n.EV_WRITABLE) guarded(() => this.#flush(true));
      else if (kind === n.EV_EOF) this.#onEof();
      else if (kind === n.EV_ERROR) this.#close(errnoError(a as number, 'read'));
      else if (kind === n.EV_CLOSED) {
        const err = this.#closeErr;
        guarded(() => (err === undefined ? this.emit('close') : this.emit('close', err)));
      }
    });
  }

  /** Connects to a listening unix socket; resolves with a connected, PAUSED socket. */
  static async connect(path: string): Promise<UnixSocket> {
    if (typeof path !== 'string') throw new TypeError('path must be a string');
    const n = native();
    const deadline = Date.now() + CONNECT_EAGAIN_TIMEOUT_MS;
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      const r = n.connect(path);
      if (r >= 0) return adopt(r, true);
      // EAGAIN: the listener's backlog is full (Linux AF_UNIX never returns EINPROGRESS).
      if (-r !== E.EAGAIN || Date.now() >= deadline) throw errnoError(-r, 'connect', path);
      await sleep(delay);
    }
  }

  /** The socket's fd; -1 once closing started. */
  get fd(): number {
    return this.#fd;
  }

  /** SO_PEERCRED of the peer, read once when the socket was connected/accepted. */
  get peer(): PeerCredentials {
    return this.#peer;
  }

  /** Bytes queued and not yet written. */
  get writableLength(): number {
    return this.#queued;
  }

  /** True from destroy()/end()-completion/error on; 'close' follows asynchronously. */
  get closed(): boolean {
    return this.#closing;
  }

  /**
   * Queues data (not copied: do not modify it afterwards) and tries to write at once.
   * Takes ownership of fds: they are sent with the first byte of data in one
   * sendmsg() and closed here right after, or when the socket closes before that.
   * Throws (and leaves fds with the caller) only on invalid arguments.
   * Returns false when more than highWaterMark bytes are queued, or the socket is closing/ending.
   */
  write(data: Uint8Array, fds: readonly number[] = []): boolean {
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Buffer or Uint8Array');
    if (!Array.isArray(fds) || !fds.every(isFd)) throw new TypeError('fds must be an array of file descriptors');
    if (fds.length > MAX_FDS_PER_MESSAGE) {
      throw new RangeError(`at most ${MAX_FDS_PER_MESSAGE} fds can travel in one message (got ${fds.length})`);
    }
    if (fds.length > 0 && data.length === 0) throw new RangeError('fds need at least one byte of data to travel with');
    if (this.#closing || this.#ending) {
      closeAll(fds);
      return false;
    }
    if (data.length > 0) {
      this.#queue.push({ buf: data, off: 0, fds: [...fds] });
      this.#queued += data.length;
      if (this.#queue.length - this.#head === 1) this.#flush(false);
    }
    if (this.#closing) return false;
    if (this.#queued > this.highWaterMark) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  /** Stops reading: no 'data' (nor 'end') until resume(). Data waits in the kernel. */
  pause(): void {
    this.#paused = true;
    this.#updatePoll();
  }

  /** Starts reading. Sockets start paused. */
  resume(): void {
    this.#paused = false;
    this.#updatePoll();
  }

  /** Flushes queued writes, then shutdown(SHUT_WR) and close. */
  end(): void {
    if (this.#closing || this.#ending) return;
    this.#ending = true;
    if (this.#queued === 0) this.#finishEnd();
  }

  /** Closes now, dropping queued data and closing queued fds. */
  destroy(): void {
    this.#close();
  }

  #onData(chunk: Buffer, fds: number[]): void {
    // The fds belong to the 'data' listener; without one nobody could ever close them.
    if (this.#closing || this.listenerCount('data') === 0) {
      closeAll(fds);
      return;
    }
    guarded(() => this.emit('data', chunk, fds));
  }

  #onEof(): void {
    if (this.#closing) return;
    guarded(() => this.emit('end'));
    this.#close();
  }

  #updatePoll(): void {
    if (this.#closing) return;
    const n = native();
    const mask = (this.#paused ? 0 : n.READABLE) | (this.#queued > 0 ? n.WRITABLE : 0);
    if (mask === this.#armed) return;
    this.#armed = mask;
    const r = this.#handle.setEvents(mask);
    if (r < 0) this.#close(errnoError(-r, 'poll'));
  }

  /** Writes as much of the queue as the kernel takes; arms WRITABLE for the rest. */
  #flush(fromPoll: boolean): void {
    const n = native();
    const q = this.#queue;
    while (this.#head < q.length && !this.#closing) {
      const first = q[this.#head]!;
      const bufs: Uint8Array[] = [first.buf];
      // Coalesce following entries, but never past one that carries fds: those must start a sendmsg().
      for (let i = this.#head + 1; i < q.length && bufs.length < MAX_IOV && q[i]!.fds.length === 0; i++) bufs.push(q[i]!.buf);
      const fds = first.fds.length > 0 ? first.fds : null;
      const r = n.send(this.#fd, bufs, first.off, fds);
      if (r < 0) {
        if (-r === E.EAGAIN) break;
        this.#close(errnoError(-r, 'write'));
        return;
      }
      if (r === 0) break; // not expected for a non-empty stream write; wait for WRITABLE
      if (fds) {
        first.fds = [];
        closeAll(fds); // the kernel holds its own references now
      }
      this.#queued -= r;
      for (let left = r; left > 0; ) {
        const e = q[this.#head]!;
        const rest = e.buf.length - e.off;
        if (left >= rest) {
          left -= rest;
          this.#head++;
        } else {
          e.off += left;
          left = 0;
        }
      }
    }
    if (this.#head === q.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > q.length) {
      this.#queue = q.slice(this.#head);
      this.#head = 0;
    }
    if (this.#closing) return;
    this.#updatePoll();
    if (this.#queued > 0) return;
    if (this.#needDrain && fromPoll) {
      this.#needDrain = false;
      this.emit('drain');
    }
    if (this.#ending) this.#finishEnd();
  }

  #finishEnd(): void {
    if (this.#closing) return;
    native().shutdown(this.#fd); // errors do not matter: we close right after
    this.#close();
  }

  #close(err?: Error): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#closeErr = err;
    for (let i = this.#head; i < this.#queue.length; i++) closeAll(this.#queue[i]!.fds);
    this.#queue = [];
    this.#head = 0;
    this.#queued = 0;
    this.#fd = -1;
    this.#handle.close(); // EV_CLOSED ('close') follows once libuv released the fd
  }
}

export interface ListenOptions {
  /** listen() backlog; default 511. */
  backlog?: number;
  /** chmod applied to the socket file before listen(); default: as the umask makes it. */
  mode?: number;
}

/**
 * Removes a leftover socket file from a dead server. A live one (connect succeeds
 * or the backlog is full) gives EADDRINUSE; anything that is not a socket is left
 * alone (bind() then fails with EADDRINUSE).
 */
function removeStaleSocket(path: string): void {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) return;
  const n = native();
  const r = n.connect(path);
  if (r >= 0) n.close(r);
  if (r >= 0 || -r === E.EAGAIN) throw errnoError(E.EADDRINUSE, 'listen', path);
  if (-r !== E.ECONNREFUSED) return;
  try {
    unlinkSync(path);
  } catch {
    // raced with someone else; bind() will tell
  }
}

export class UnixServer extends EventEmitter<ServerEvents> {
  readonly #path: string;
  readonly #handle: NativeHandle;
  readonly #ino: number | undefined;
  #closing = false;
  #backoff: NodeJS.Timeout | undefined;
  readonly #closed: Promise<void>;
  #resolveClosed!: () => void;

  /** Not public: use UnixServer.listen(). */
  constructor(token: symbol, fd: number, path: string, ino: number | undefined) {
    if (token !== internal) throw new TypeError('use UnixServer.listen()');
    super();
    this.#path = path;
    this.#ino = ino;
    this.#closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    const n = native();
    this.#handle = new n.Handle(fd, true, (kind, a) => {
      if (kind === n.EV_CONN) this.#onConnection(a as number);
      else if (kind === n.EV_ERROR) this.#onAcceptError();
      else if (kind === n.EV_CLOSED) {
        this.#resolveClosed();
        guarded(() => this.emit('close'));
      }
    });
    // Accept only while someone listens for 'connection'; until then clients wait in the backlog.
    this.on('newListener', (event) => {
      if (event === 'connection') queueMicrotask(() => this.#updatePoll());
    });
    this.on('removeListener', (event) => {
      if (event === 'connection') this.#updatePoll();
    });
  }

  /** Binds and listens. Unlinks a stale socket file first; chmods to opts.mode when given. */
  static async listen(path: string, opts: ListenOptions = {}): Promise<UnixServer> {
    if (typeof path !== 'string') throw new TypeError('path must be a string');
    const backlog = opts.backlog ?? 511;
    const mode = opts.mode ?? -1;
    if (!Number.isInteger(backlog) || backlog < 0) throw new RangeError('backlog must be a non-negative integer');
    if (!Number.isInteger(mode) || mode < -1 || mode > 0o7777) throw new RangeError('mode must be a file mode');
    removeStaleSocket(path);
    const n = native();
    const fd = n.listen(path, backlog, mode);
    if (fd < 0) throw errnoError(-fd, 'listen', path);
    let ino: number | undefined;
    try {
      ino = statSync(path).ino;
    } catch {
      ino = undefined;
    }
    try {
      return new UnixServer(internal, fd, path, ino);
    } catch (err) {
      n.close(fd);
      try {
        unlinkSync(path);
      } catch {
        // nothing to clean
      }
      throw err;
    }
  }

  get path(): string {
    return this.#path;
  }

  /** Stops accepting and unlinks the socket file (if it is still ours). Accepted sockets stay open. */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      clearTimeout(this.#backoff);
      this.#handle.close();
      try {
        if (this.#ino !== undefined && lstatSync(this.#path).ino === this.#ino) unlinkSync(this.#path);
      } catch {
        // already gone
      }
    }
    return this.#closed;
  }

  #updatePoll(): void {
    if (this.#closing || this.#backoff !== undefined) return;
    this.#handle.setEvents(this.listenerCount('connection') > 0 ? native().READABLE : 0);
  }

  #onConnection(fd: number): void {
    // Returning without adopting leaves fd to the addon, which closes it.
    if (this.#closing || this.listenerCount('connection') === 0) return;
    let sock: UnixSocket;
    try {
      sock = adopt(fd, false);
    } catch {
      return; // peer vanished or out of memory: drop this one connection
    }
    guarded(() => this.emit('connection', sock));
  }

  /** EMFILE/ENFILE/ENOBUFS...: stop polling for a while instead of spinning on a readable listener. */
  #onAcceptError(): void {
    if (this.#closing || this.#backoff !== undefined) return;
    this.#handle.setEvents(0);
    this.#backoff = setTimeout(() => {
      this.#backoff = undefined;
      this.#updatePoll();
    }, ACCEPT_BACKOFF_MS);
  }
}

/** Closes an fd; never throws (EBADF and friends are ignored). */
export function closeFd(fd: number): void {
  if (isFd(fd)) native().close(fd);
}

export type FdType = 'socket' | 'fifo' | 'file' | 'chr' | 'dir' | 'blk' | 'link' | 'unknown' | 'closed';

/** fstat() type of an fd; 'closed' when it is not open. */
export function fdType(fd: number): FdType {
  return (isFd(fd) ? native().fdType(fd) : 'closed') as FdType;
}

/** pipe2(O_CLOEXEC): [readEnd, writeEnd]. */
export function pipe(): [number, number] {
  const r = native().pipe();
  if (typeof r === 'number') throw errnoError(-r, 'pipe2');
  return r;
}

/** socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC): two connected blocking sockets. */
export function socketpair(): [number, number] {
  const r = native().socketpair();
  if (typeof r === 'number') throw errnoError(-r, 'socketpair');
  return r;
}

/** Number of entries in /proc/PID/fd (own process by default), for leak tests. */
export function openFdCount(pid: number = process.pid): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}
