/**
 * The latest event per (name, throttle key): what a tool connecting now wants to know ("the last
 * RTC_CHANGE offset", "the last STOP or RESUME"). Keys follow QEMU's own throttling table
 * (QMP-NOTES §4): QEMU rate-limits these events per key and keeps only the newest, so "the latest per
 * key" is exactly the information QEMU itself considers current. Every other event is keyed by its name
 * alone. Bounded: beyond `maxEntries` the entry updated longest ago goes.
 */
import type { JsonPlain } from '@qmpmux/core';
import type { StoredEvent } from './stored-event.ts';

/** Event name -> the `data` member that keys it (null: the name alone). QEMU 7.2–9.x. */
export const THROTTLE_KEYS: Readonly<Record<string, string | null>> = Object.freeze({
  RTC_CHANGE: null,
  WATCHDOG: null,
  BALLOON_CHANGE: null,
  QUORUM_FAILURE: null,
  HV_BALLOON_STATUS_REPORT: null,
  QUORUM_REPORT_BAD: 'node-name',
  VSERPORT_CHANGE: 'id',
  MEMORY_DEVICE_SIZE_CHANGE: 'qom-path',
  // QEMU throttles it by qom-path only when action is not "stop"; as state, per device is what is wanted.
  BLOCK_IO_ERROR: 'qom-path',
});

export interface LastEvent {
  event: StoredEvent;
  /** The throttle key's value, when the event has one. */
  key: string | undefined;
}

export class LastEvents {
  /** Insertion order is update order: the first entry is the one updated longest ago. */
  private readonly map = new Map<string, LastEvent>();

  constructor(
    private readonly keys: Readonly<Record<string, string | null>>,
    private readonly maxEntries: number,
  ) {}

  get size(): number {
    return this.map.size;
  }

  keyOf(e: StoredEvent): string | undefined {
    const field = this.keys[e.name];
    if (!field) return undefined;
    const data = e.value().data;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
    const v = (data as Record<string, JsonPlain>)[field];
    return typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' ? String(v) : undefined;
  }

  /** Keep `e` if it is newer than what is held for its (name, key). */
  update(e: StoredEvent): void {
    if (this.maxEntries === 0) return;
    const key = this.keyOf(e);
    const id = key === undefined ? e.name : `${e.name}\u0000${key}`;
    const old = this.map.get(id);
    if (old && old.event.seq >= e.seq) return;
    this.map.delete(id);
    this.map.set(id, { event: e, key });
    if (this.map.size > this.maxEntries) this.map.delete(this.map.keys().next().value!);
  }

  /** Held entries (optionally of these names only), oldest seq first. */
  list(names?: ReadonlySet<string>): LastEvent[] {
    const out: LastEvent[] = [];
    for (const v of this.map.values()) if (!names || names.has(v.event.name)) out.push(v);
    return out.sort((a, b) => a.event.seq - b.event.seq);
  }
}
