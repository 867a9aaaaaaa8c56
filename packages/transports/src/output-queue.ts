/**
 * A connection's output while its peer does not keep up, and the count of the memory it holds.
 *
 * While the transport takes every write at once, writes go straight through (the fast path: one flag
 * test). Once it holds bytes it could not write, further writes wait here until it has written out
 * everything it held; then they are handed over a chunk at a time (byte streams) or a message at a time
 * (WebSocket frames, `framed`).
 *
 * Small messages (under COPY_BELOW bytes: events, most replies) are copied into chunks of CHUNK_BYTES;
 * larger ones (query-qmp-schema's ~200 KB) wait as they are. Measured with stalled clients: a waiting
 * write kept by reference cost a Buffer object (~100 bytes of heap), an 8 KiB pool slab pinned for a
 * few dozen bytes, and the transport's own per-write record (~100-280 bytes) — two to three times the
 * bytes counted. A copy costs its bytes.
 *
 * `writableLength` is what this queue holds — chunks at their capacity, large messages at their size,
 * each entry's record — plus what the transport holds (and the unused rest of a chunk it holds).
 */
import { closeFds } from './fds.ts';

/** What a transport offers the queue. */
export interface OutputSink {
  /**
   * Hand bytes (and fds, which travel with the first byte) to the transport. True: all of it went out
   * at once. False: some of it waits in the transport, which then calls `OutputQueue.drained()` once it
   * has written out everything it holds.
   */
  write(data: Buffer, fds: number[] | undefined): boolean;
  /** Bytes the transport holds, not yet written out. */
  readonly writableLength: number;
}

/** Size of the chunks small waiting messages are copied into. */
export const CHUNK_BYTES = 16 * 1024;
/** Messages this size and larger wait as they are (not copied). */
export const COPY_BELOW = 4 * 1024;
/** What an entry of the queue costs beyond its bytes (the object holding a chunk or a large message). */
export const ENTRY_BYTES = 96;
/** What a message's boundary costs in a framed queue (its end offset in the chunk's list). */
export const FRAME_END_BYTES = 16;

interface Entry {
  buf: Buffer;
  /** Bytes of buf filled. */
  used: number;
  /** More messages may be copied in (a chunk not handed over yet). */
  open: boolean;
  /** fds to send with buf's first byte (byte streams). */
  fds: number[] | undefined;
  /** framed: where each message ends in buf, and how many were handed over. */
  ends: number[];
  sent: number;
}

const noop = (): void => {};

export class OutputQueue {
  private entries: Entry[] = [];
  private head = 0;
  private bytes = 0;
  /** The unused rest of a chunk the transport holds (counted until it drains). */
  private sinkSlack = 0;
  private blocked = false;
  private then: (() => void) | undefined;
  /** Called after queued output went out (the transport drained); not for writes that went at once. */
  onProgress: () => void = noop;

  /** `framed`: hand over one message per write (WebSocket frames, which carry no fds). */
  constructor(
    private readonly sink: OutputSink,
    private readonly framed = false,
  ) {}

  /** Memory this queue holds, and bytes the transport holds. */
  get writableLength(): number {
    return this.bytes + this.sinkSlack + this.sink.writableLength;
  }

  write(data: Buffer, fds?: number[]): void {
    const withFds = fds?.length ? fds : undefined;
    if (!this.blocked) {
      this.blocked = !this.sink.write(data, withFds);
      return;
    }
    const n = data.length;
    if (n === 0 && !withFds) return;
    let tail = this.entries.length > this.head ? this.entries[this.entries.length - 1]! : undefined;
    if (n >= COPY_BELOW) {
      this.push({ buf: data, used: n, open: false, fds: withFds, ends: [], sent: 0 }, n);
    } else {
      if (withFds || !tail || !tail.open || tail.buf.length - tail.used < n) {
        tail = { buf: Buffer.allocUnsafeSlow(CHUNK_BYTES), used: 0, open: true, fds: withFds, ends: [], sent: 0 };
        this.push(tail, CHUNK_BYTES);
      }
      data.copy(tail.buf, tail.used);
      tail.used += n;
    }
    if (this.framed) {
      this.entries[this.entries.length - 1]!.ends.push(this.entries[this.entries.length - 1]!.used);
      this.bytes += FRAME_END_BYTES;
    }
  }

  /** The transport has written out everything it held: hand over what waits here. */
  drained(): void {
    this.blocked = false;
    this.sinkSlack = 0;
    while (this.head < this.entries.length && !this.blocked) {
      const e = this.entries[this.head]!;
      e.open = false;
      if (this.framed) this.handMessage(e);
      else this.handEntry(e);
    }
    if (this.head === this.entries.length) {
      this.entries = [];
      this.head = 0;
      if (this.then) {
        const then = this.then;
        this.then = undefined;
        then();
      }
    } else if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    this.onProgress();
  }

  /** Run `then` (end the transport, which flushes what it holds) once nothing waits here. */
  afterQueued(then: () => void): void {
    if (this.head === this.entries.length) then();
    else this.then = then;
  }

  /** The connection is gone: drop what waits and close the fds it carries. */
  clear(): void {
    for (let i = this.head; i < this.entries.length; i++) closeFds(this.entries[i]!.fds);
    this.entries = [];
    this.head = 0;
    this.bytes = 0;
    this.sinkSlack = 0;
    this.then = undefined;
  }

  private push(e: Entry, size: number): void {
    this.entries.push(e);
    this.bytes += size + ENTRY_BYTES;
  }

  /** Byte stream: the whole entry in one write (a chunk's fds with its first byte). */
  private handEntry(e: Entry): void {
    this.head++;
    this.bytes -= e.buf.length + ENTRY_BYTES;
    const fds = e.fds;
    e.fds = undefined;
    this.blocked = !this.sink.write(e.used === e.buf.length ? e.buf : e.buf.subarray(0, e.used), fds);
    if (this.blocked) this.sinkSlack = e.buf.length - e.used;
  }

  /** Framed: the entry's next message, as one write; the entry goes once its last message went. */
  private handMessage(e: Entry): void {
    const start = e.sent === 0 ? 0 : e.ends[e.sent - 1]!;
    const end = e.ends[e.sent++]!;
    this.bytes -= FRAME_END_BYTES;
    const last = e.sent === e.ends.length;
    if (last) {
      this.head++;
      this.bytes -= e.buf.length + ENTRY_BYTES;
    }
    this.blocked = !this.sink.write(start === 0 && end === e.buf.length ? e.buf : e.buf.subarray(start, end), undefined);
    if (this.blocked && last) this.sinkSlack = e.buf.length - (end - start);
  }
}
