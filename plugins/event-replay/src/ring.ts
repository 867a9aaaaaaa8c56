/**
 * The bounded in-memory history: a circular buffer of StoredEvents in seq order, bounded by count, by
 * bytes (the events' wire size) and by age (from when qmpmux received them). Whatever falls out is
 * remembered only as a high-water mark ("the newest event dropped"), which is what `lost` is computed
 * from.
 */
import type { StoredEvent } from './stored-event.ts';

export interface RingLimits {
  /** Events held at most. */
  maxEvents: number;
  /** Sum of the held events' wire sizes (raw bytes, line end included) at most. */
  maxBytes: number;
  /** Events older than this (ms since qmpmux received them) are dropped. */
  maxAgeMs: number;
}

export class EventRing {
  private readonly slots: (StoredEvent | undefined)[];
  private head = 0;
  private count = 0;
  private byteCount = 0;
  /** Highest seq ever pushed (held or not): where a replay hands over to live delivery. */
  highSeq = 0;
  /** The newest event no longer held: its seq, and an upper bound of its QEMU time (µs). */
  readonly dropped = { seq: 0, us: Number.NEGATIVE_INFINITY };

  constructor(readonly limits: RingLimits) {
    this.slots = new Array(limits.maxEvents);
  }

  get size(): number {
    return this.count;
  }
  get bytes(): number {
    return this.byteCount;
  }
  get oldest(): StoredEvent | undefined {
    return this.count ? this.slots[this.head] : undefined;
  }
  get newest(): StoredEvent | undefined {
    return this.count ? this.slots[(this.head + this.count - 1) % this.limits.maxEvents] : undefined;
  }

  /** Add the next event (seq above every held one); evicts by count, bytes and age. */
  push(e: StoredEvent, now: number): void {
    if (e.seq <= this.highSeq) throw new Error(`event-replay: seq ${e.seq} after ${this.highSeq}`);
    this.highSeq = e.seq;
    if (e.raw.length > this.limits.maxBytes || this.limits.maxEvents === 0 || e.at < now - this.limits.maxAgeMs) {
      this.markDropped(e.seq, e.us);
      return;
    }
    while (this.count > 0 && (this.count >= this.limits.maxEvents || this.byteCount + e.raw.length > this.limits.maxBytes)) this.evict();
    this.slots[(this.head + this.count) % this.limits.maxEvents] = e;
    this.count++;
    this.byteCount += e.raw.length;
    this.prune(now);
  }

  /** Drop events past the age limit. */
  prune(now: number): void {
    const limit = now - this.limits.maxAgeMs;
    while (this.count > 0 && this.slots[this.head]!.at < limit) this.evict();
  }

  /** Record that events up to `seq`, of QEMU time at most `us`, exist but are not held. */
  markDropped(seq: number, us: number): void {
    if (seq > this.dropped.seq) this.dropped.seq = seq;
    if (us > this.dropped.us) this.dropped.us = us;
    if (seq > this.highSeq) this.highSeq = seq;
  }

  /** Held events with seq > `seq`, oldest first. */
  afterSeq(seq: number): StoredEvent[] {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.at(mid).seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    const out: StoredEvent[] = [];
    for (let i = lo; i < this.count; i++) out.push(this.at(i));
    return out;
  }

  /** Held events whose QEMU timestamp is at or after `us`, oldest first (QEMU's clock may step back). */
  sinceTime(us: number): StoredEvent[] {
    const out: StoredEvent[] = [];
    for (let i = 0; i < this.count; i++) {
      const e = this.at(i);
      if (e.us >= us) out.push(e);
    }
    return out;
  }

  all(): StoredEvent[] {
    return this.afterSeq(0);
  }

  private at(i: number): StoredEvent {
    return this.slots[(this.head + i) % this.limits.maxEvents]!;
  }

  private evict(): void {
    const e = this.slots[this.head]!;
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) % this.limits.maxEvents;
    this.count--;
    this.byteCount -= e.raw.length;
    this.markDropped(e.seq, e.us);
  }
}
