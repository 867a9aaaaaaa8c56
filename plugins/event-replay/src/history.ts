/**
 * Everything event-replay keeps: the ring (replay source), the latest-per-key state, and the optional
 * journal behind both. Restores itself from the journal at start-up and answers "which events does this
 * replay cover".
 */
import type { Logger, QmpEvent } from '@qmpmux/core';
import { Journal, MAX_UNFLUSHED, type JournalOptions, type LoadedJournal } from './journal.ts';
import type { EventReplayOptions } from './options.ts';
import { EventRing } from './ring.ts';
import { LastEvents } from './state.ts';
import { StoredEvent } from './stored-event.ts';

export interface ReplayQuery {
  /** Events with a seq above this. */
  sinceSeq?: number;
  /** Events whose QEMU timestamp is at or after this (µs since the epoch). */
  sinceUs?: number;
  /** Only events of these names. */
  names?: ReadonlySet<string>;
  /** Only events received at most this long ago (ms). */
  maxAgeMs?: number;
}

export interface ReplaySelection {
  /** What to send, oldest first. */
  events: StoredEvent[];
  /** The covered range: from the first held event the query reaches (names aside)… */
  firstSeq: number;
  /** …to the handover point: every later event reaches the client live. */
  lastSeq: number;
  /** Events of the requested range are no longer held. */
  lost: boolean;
}

export class EventHistory {
  readonly ring: EventRing;
  readonly state: LastEvents;
  private journal: Journal | undefined;

  constructor(
    options: EventReplayOptions,
    private readonly log: Logger,
  ) {
    this.ring = new EventRing(options);
    this.state = new LastEvents(options.stateKeys, options.maxStateEntries);
  }

  /**
   * Open the journal and load it. Returns the seq the proxy must continue after: the journal's last,
   * plus MAX_UNFLUSHED when it did not end with a clean close (a crash may have lost that many
   * numbered events, and their seqs must not be handed out twice).
   */
  openJournal(opts: JournalOptions, now = Date.now()): number {
    const { journal, loaded } = Journal.open(opts, this.log);
    this.journal = journal;
    return this.restore(loaded, now);
  }

  private restore(loaded: LoadedJournal, now: number): number {
    let prev = 0;
    for (const r of loaded.records) {
      const e = StoredEvent.fromJournal(r.seq, r.name, r.raw, r.at);
      if (r.kind === 'state') {
        this.state.update(e);
        continue;
      }
      // A hole (rotated away before the first, or cut out in the middle): those events are lost.
      if (r.seq > prev + 1) this.ring.markDropped(r.seq - 1, e.us);
      this.ring.push(e, now);
      this.state.update(e);
      prev = r.seq;
    }
    if (loaded.close && loaded.close.seq > prev) this.ring.markDropped(loaded.close.seq, loaded.close.at * 1000);
    let last = this.ring.highSeq;
    if (!loaded.clean && last > 0) {
      last += MAX_UNFLUSHED;
      this.ring.markDropped(last, now * 1000);
      this.log.warn('journal did not end with a clean close: numbering continues after a gap, replays from before it report lost', { gapAfter: prev, continueAfter: last });
    }
    this.log.info('journal loaded', { events: this.ring.size, firstSeq: this.ring.oldest?.seq, lastSeq: prev, state: this.state.size });
    return last;
  }

  /** A live event, before any client has it. */
  record(ev: QmpEvent, now = Date.now()): void {
    const e = StoredEvent.fromLive(ev, now);
    this.ring.push(e, now);
    this.state.update(e);
    this.journal?.append(e, this.stateEvents);
  }

  select(q: ReplayQuery, lastAssignedSeq: number, now = Date.now()): ReplaySelection {
    this.ring.prune(now);
    let range: StoredEvent[];
    let lost: boolean;
    if (q.sinceSeq !== undefined && q.sinceSeq > lastAssignedSeq) {
      // A seq this numbering never reached: from before a qmpmux restart without a journal.
      range = this.ring.all();
      lost = true;
    } else if (q.sinceSeq !== undefined) {
      range = this.ring.afterSeq(q.sinceSeq);
      lost = this.ring.dropped.seq > q.sinceSeq;
    } else if (q.sinceUs !== undefined) {
      range = this.ring.sinceTime(q.sinceUs);
      lost = this.ring.dropped.us >= q.sinceUs;
    } else {
      range = this.ring.all();
      lost = this.ring.dropped.seq > 0;
    }
    if (q.maxAgeMs !== undefined) {
      const from = now - q.maxAgeMs;
      range = range.filter((e) => e.at >= from);
    }
    const firstSeq = range[0]?.seq ?? this.ring.highSeq + 1;
    const events = q.names ? range.filter((e) => q.names!.has(e.name)) : range;
    return { events, firstSeq, lastSeq: this.ring.highSeq, lost };
  }

  close(lastAssignedSeq: number): void {
    this.journal?.close(lastAssignedSeq, this.stateEvents);
    this.journal = undefined;
  }

  /** Segment files of the journal (diagnostics, tests). */
  get journalSegments(): string[] {
    return this.journal?.segmentNames ?? [];
  }

  private readonly stateEvents = (): StoredEvent[] => this.state.list().map((x) => x.event);
}
