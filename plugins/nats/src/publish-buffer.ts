/**
 * The bounded buffer between QEMU's events and JetStream. An entry stays until JetStream acknowledges
 * it (`ack`), so what was not acknowledged when NATS went away is published after it comes back.
 *
 * At most `capacity` entries are held. An event that finds the buffer full is dropped and counted:
 * consecutive drops make one gap (fromSeq..toSeq), and as soon as there is room again the gap itself
 * is queued as an entry, in the place of the events it stands for, so a consumer reading the stream
 * in order learns what it missed. Nothing else grows: memory is bounded by `capacity` entries.
 *
 * Entries go out in order (`next`), oldest first; one that failed (`retry`) goes out again before
 * anything newer. No I/O here.
 */

export interface PendingMessage {
  /** Event seq, or for a gap its first dropped seq. */
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  /** Nats-Msg-Id: the same on every attempt, so JetStream drops a copy it already has. */
  readonly msgId: string;
  readonly headers: readonly (readonly [string, string])[];
}

export interface Gap {
  fromSeq: number;
  toSeq: number;
  dropped: number;
}

export class PublishBuffer {
  /** Held entries by msgId (insertion order = queue order). */
  private readonly held = new Map<string, PendingMessage>();
  /** Waiting to be sent, oldest first. */
  private queue: PendingMessage[] = [];
  private head = 0;
  /** Failed attempts, to be sent again before the queue. */
  private readonly retries: PendingMessage[] = [];
  private gap: Gap | undefined;
  /** Events dropped since start, and gaps recorded. */
  dropped = 0;
  gaps = 0;

  constructor(
    private readonly capacity: number,
    /** Turn a closed gap into the message that reports it. */
    private readonly gapMessage: (gap: Gap) => PendingMessage,
  ) {}

  /** Entries held (sent or not). */
  get size(): number {
    return this.held.size;
  }
  /** Entries waiting to be sent (not in flight). */
  get waiting(): number {
    return this.queue.length - this.head + this.retries.length;
  }
  /** The gap being counted now (events dropped with no room yet to report them). */
  get openGap(): Readonly<Gap> | undefined {
    return this.gap;
  }

  /** Still held (not yet acknowledged)? */
  has(m: PendingMessage): boolean {
    return this.held.has(m.msgId);
  }

  /** Take an event; false when it was dropped (buffer full). */
  push(m: PendingMessage): boolean {
    this.flushGap();
    if (this.held.size >= this.capacity) {
      if (this.gap) {
        this.gap.toSeq = m.seq;
        this.gap.dropped++;
      } else this.gap = { fromSeq: m.seq, toSeq: m.seq, dropped: 1 };
      this.dropped++;
      return false;
    }
    this.add(m);
    return true;
  }

  /** The next entry to send (removed from the waiting line, still held), or undefined. */
  next(): PendingMessage | undefined {
    for (;;) {
      let m: PendingMessage;
      if (this.retries.length) m = this.retries.shift()!;
      else if (this.head < this.queue.length) {
        m = this.queue[this.head++]!;
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
      } else return undefined;
      if (this.held.has(m.msgId)) return m; // else acknowledged meanwhile (a late answer to an earlier attempt)
    }
  }

  /** JetStream has it: forget it, and report a gap if there is room now. */
  ack(m: PendingMessage): void {
    if (!this.held.delete(m.msgId)) return;
    this.flushGap();
  }

  /** The attempt failed: send it again, before anything newer. */
  retry(m: PendingMessage): void {
    if (!this.held.has(m.msgId) || this.retries.includes(m)) return;
    let i = this.retries.length;
    while (i > 0 && this.retries[i - 1]!.seq > m.seq) i--;
    this.retries.splice(i, 0, m);
  }

  private add(m: PendingMessage): void {
    this.held.set(m.msgId, m);
    this.queue.push(m);
  }

  private flushGap(): void {
    if (!this.gap || this.held.size >= this.capacity) return;
    const g = this.gap;
    this.gap = undefined;
    this.gaps++;
    this.add(this.gapMessage(g));
  }
}
