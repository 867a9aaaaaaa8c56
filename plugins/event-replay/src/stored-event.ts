/**
 * An event as event-replay keeps it: the core's QmpEvent (seq, name, exact bytes) plus when qmpmux
 * received it and QEMU's timestamp, in its own memory (never a slice of a larger read buffer, which
 * would keep the whole buffer alive for as long as the event is held).
 */
import { parseMessage, toPlain } from '@qmpmux/protocol';
import type { QmpEvent } from '@qmpmux/core';

type EventValue = ReturnType<QmpEvent['value']>;

/** QEMU's compact output starts every event with its timestamp (QMP-NOTES §1.1, §4). */
const COMPACT_TS = /^\{"timestamp": \{"seconds": (-?\d+), "microseconds": (-?\d+)\}/;

export class StoredEvent implements QmpEvent {
  private parsed: EventValue | undefined;

  constructor(
    readonly seq: number,
    readonly name: string,
    /** Exactly the bytes QEMU sent, line end included. */
    readonly raw: Buffer,
    /** When qmpmux received it (ms since the epoch); the age limit counts from here. */
    readonly at: number,
    /** QEMU's timestamp in µs since the epoch; the receive time when QEMU's clock read failed (-1). */
    readonly us: number,
    parsed?: EventValue,
  ) {
    this.parsed = parsed;
  }

  value(): EventValue {
    return (this.parsed ??= parseEvent(this.raw));
  }

  /** A live event from the core, copied into memory of its own. */
  static fromLive(ev: QmpEvent, at: number): StoredEvent {
    const raw = ownCopy(ev.raw);
    let us = compactTimestamp(raw);
    let parsed: EventValue | undefined;
    if (us === undefined) {
      parsed = ev.value();
      us = toMicros(parsed.timestamp?.seconds, parsed.timestamp?.microseconds);
    }
    return new StoredEvent(ev.seq, ev.name, raw, at, us ?? at * 1000, parsed);
  }

  /** An event read back from the journal. */
  static fromJournal(seq: number, name: string, raw: Buffer, at: number): StoredEvent {
    const own = ownCopy(raw);
    let us = compactTimestamp(own);
    let parsed: EventValue | undefined;
    if (us === undefined) {
      parsed = parseEvent(own);
      us = toMicros(parsed.timestamp?.seconds, parsed.timestamp?.microseconds);
    }
    return new StoredEvent(seq, name, own, at, us ?? at * 1000, parsed);
  }
}

function ownCopy(b: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(b.length);
  b.copy(out);
  return out;
}

function compactTimestamp(raw: Buffer): number | undefined {
  const m = COMPACT_TS.exec(raw.toString('latin1', 0, Math.min(raw.length, 96)));
  return m ? toMicros(Number(m[1]), Number(m[2])) : undefined;
}

function toMicros(seconds: unknown, micros: unknown): number | undefined {
  if (typeof seconds !== 'number' || typeof micros !== 'number' || seconds < 0 || micros < 0) return undefined;
  return seconds * 1_000_000 + micros;
}

function parseEvent(raw: Buffer): EventValue {
  const root = parseMessage(raw);
  if (!root) throw new Error('event-replay: a stored event does not parse');
  return toPlain(root) as unknown as EventValue;
}
