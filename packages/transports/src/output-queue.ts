/**
 * A connection's output while its peer does not keep up.
 *
 * While the transport takes every write at once, writes go straight through (the fast path: one flag
 * test). Once it holds bytes it could not write, further writes wait here — as references, not
 * copies: an event shared by every client stays one Buffer — until the transport has written out all
 * it holds; then they are handed over, several small ones joined into one Buffer of at most
 * BATCH_BYTES (on a byte stream) or one message at a time (WebSocket frames).
 *
 * Why: a transport's own queue costs ~100-280 bytes of heap per waiting write (net.Socket's and ws's
 * per-write records, unixfd's entries), more than a typical event (~80 bytes), and none of it was
 * counted. Here a waiting message costs its bytes plus ENTRY_BYTES, and `writableLength` counts both:
 * what the queue really holds (a Buffer shared by several queues is counted in each, so the count errs
 * on the high side), plus what the transport holds (at most one batch, or one message).
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

/** Small waiting writes are joined into hand-overs of at most this many bytes (byte streams). */
export const BATCH_BYTES = 64 * 1024;
/** What a waiting write costs beyond its bytes: its slot in the queue (8 bytes) and the array's spare room. */
export const ENTRY_BYTES = 16;
/** ... and a waiting write that carries fds (an object holding them). */
const FDS_ENTRY_BYTES = 96;

interface WithFds {
  buf: Buffer;
  fds: number[];
}

const noop = (): void => {};

export class OutputQueue {
  private items: (Buffer | WithFds)[] = [];
  private head = 0;
  private bytes = 0;
  private blocked = false;
  private then: (() => void) | undefined;
  /** Called after queued output went out (the transport drained); not for writes that went at once. */
  onProgress: () => void = noop;

  /** `framed`: hand over one message per write (WebSocket), never joined. */
  constructor(
    private readonly sink: OutputSink,
    private readonly framed = false,
  ) {}

  /** Bytes waiting here (with their entries' cost) and in the transport. */
  get writableLength(): number {
    return this.bytes + this.sink.writableLength;
  }

  write(data: Buffer, fds?: number[]): void {
    if (!this.blocked) {
      this.blocked = !this.sink.write(data, fds?.length ? fds : undefined);
      return;
    }
    if (fds?.length) {
      this.items.push({ buf: data, fds });
      this.bytes += data.length + FDS_ENTRY_BYTES;
    } else {
      this.items.push(data);
      this.bytes += data.length + ENTRY_BYTES;
    }
  }

  /** The transport has written out everything it held: hand over what waits here. */
  drained(): void {
    this.blocked = false;
    while (this.head < this.items.length && !this.blocked) {
      const [buf, fds] = this.framed ? this.one() : this.batch();
      this.blocked = !this.sink.write(buf, fds);
    }
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (this.head === this.items.length && this.then) {
      const then = this.then;
      this.then = undefined;
      then();
    }
    this.onProgress();
  }

  /** Run `then` (end the transport, which flushes what it holds) once nothing waits here. */
  afterQueued(then: () => void): void {
    if (this.head === this.items.length) then();
    else this.then = then;
  }

  /** The connection is gone: drop what waits and close the fds it carries. */
  clear(): void {
    for (let i = this.head; i < this.items.length; i++) {
      const it = this.items[i]!;
      if (!Buffer.isBuffer(it)) closeFds(it.fds);
    }
    this.items = [];
    this.head = 0;
    this.bytes = 0;
    this.then = undefined;
  }

  private one(): [Buffer, number[] | undefined] {
    const it = this.items[this.head++]!;
    const [buf, fds] = Buffer.isBuffer(it) ? [it, undefined] : [it.buf, it.fds];
    this.bytes -= buf.length + (fds ? FDS_ENTRY_BYTES : ENTRY_BYTES);
    return [buf, fds];
  }

  /** The head entry and the fd-less entries after it, joined up to BATCH_BYTES (one entry: not copied). */
  private batch(): [Buffer, number[] | undefined] {
    const [first, fds] = this.one();
    if (first.length >= BATCH_BYTES) return [first, fds];
    const parts = [first];
    let total = first.length;
    while (this.head < this.items.length) {
      const it = this.items[this.head]!;
      if (!Buffer.isBuffer(it) || total + it.length > BATCH_BYTES) break;
      parts.push(it);
      total += it.length;
      this.head++;
      this.bytes -= it.length + ENTRY_BYTES;
    }
    return [parts.length === 1 ? first : Buffer.concat(parts, total), fds];
  }
}
