/**
 * QEMU's events to the events stream: subject `<p>.<vm>.event.<EVENT>`, payload exactly QEMU's event
 * bytes (QmpEvent.raw), headers Nats-Msg-Id `<vm>.<epoch>.<seq>`, Qmpmux-Seq, Qmpmux-Epoch, Qmpmux-Host.
 *
 * Off the event path: events arrive from ProxyApi.events$ (after every onEvent hook, as clients got
 * them) and only go into the bounded PublishBuffer; publishing happens later, in its own turn of the
 * event loop, and only while connected, at most `maxInflightPublish` awaiting acknowledgement. Nothing
 * in here can slow or fail a client's command or an event's delivery to local clients.
 *
 * At least once, without duplicates in the stream: an entry leaves the buffer only when JetStream
 * acknowledges it; a failed or timed-out publish is retried with the same Nats-Msg-Id, which JetStream
 * drops as a duplicate when the first attempt had in fact been stored (within duplicateWindowMs).
 */
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { Logger, ProxyApi, QmpEvent } from '@qmpmux/core';
import type { Subscription } from 'rxjs';
import type { NatsLink } from './connection.ts';
import type { NatsOptions } from './options.ts';
import { PublishBuffer, type Gap, type PendingMessage } from './publish-buffer.ts';
import { ensureStream } from './streams.ts';

/** Wait before publishing again after a failed attempt: first delay and cap (ms). */
export const RETRY_MIN_MS = 200;
export const RETRY_MAX_MS = 5_000;

export interface EventPublisherDeps {
  proxy: ProxyApi;
  link: NatsLink;
  vm: string;
  host: string;
  /** Identifies this numbering of event seqs (the plugin's start time, ms). */
  epoch: number;
  options: NatsOptions;
  log: Logger;
}

/** Subjects of the events stream for a prefix: what it captures. */
export const eventSubjects = (prefix: string) => [`${prefix}.*.event.>`, `${prefix}.*.gap`];

export class EventPublisher {
  readonly buffer: PublishBuffer;
  /** Acknowledged by JetStream (duplicates included), and how many of those were duplicates. */
  published = 0;
  duplicates = 0;
  failures = 0;
  private js: JetStreamClient | undefined;
  /** Sent on this connection, awaiting their acknowledgement. */
  private readonly inflight = new Set<PendingMessage>();
  /** Counts connections: a settlement from an earlier one only counts if it is an acknowledgement. */
  private generation = 0;
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_MIN_MS;
  private pausedUntil = 0;
  private sub: Subscription | undefined;
  private closed = false;
  private readonly prefix: string;

  constructor(private readonly d: EventPublisherDeps) {
    this.prefix = `${d.options.subjectPrefix}.${d.vm}`;
    this.buffer = new PublishBuffer(d.options.maxPendingPublish, (g) => this.gapMessage(g));
  }

  /** Start taking events (call from the plugin's create(), before any event can arrive). */
  start(): void {
    this.sub = this.d.proxy.events$.subscribe((ev) => this.take(ev));
    this.d.link.onConnected((nc) => this.attach(nc));
  }

  /** Held, not yet acknowledged. */
  get pending(): number {
    return this.buffer.size;
  }

  private take(ev: QmpEvent): void {
    const { vm, host, epoch } = this.d;
    const seq = String(ev.seq);
    const kept = this.buffer.push({
      seq: ev.seq,
      subject: `${this.prefix}.event.${ev.name}`,
      data: ev.raw,
      msgId: `${vm}.${epoch}.${ev.seq}`,
      headers: [
        ['Qmpmux-Seq', seq],
        ['Qmpmux-Epoch', String(epoch)],
        ['Qmpmux-Host', host],
      ],
    });
    if (!kept && this.buffer.openGap?.dropped === 1) this.d.log.warn(`events pile up (maxPendingPublish=${this.d.options.maxPendingPublish}): dropping from seq ${ev.seq}; a gap message will say how many`);
    this.schedule();
  }

  private gapMessage(g: Gap): PendingMessage {
    const { vm, host, epoch } = this.d;
    const body = { vm, epoch, fromSeq: g.fromSeq, toSeq: g.toSeq, dropped: g.dropped, reason: 'maxPendingPublish' };
    this.d.log.warn(`gap: ${g.dropped} event(s) dropped (seq ${g.fromSeq}..${g.toSeq}); reported on ${this.prefix}.gap`);
    return {
      seq: g.fromSeq,
      subject: `${this.prefix}.gap`,
      data: Buffer.from(JSON.stringify(body)),
      msgId: `${vm}.${epoch}.gap.${g.fromSeq}`,
      headers: [
        ['Qmpmux-Epoch', String(epoch)],
        ['Qmpmux-Host', host],
      ],
    };
  }

  private async attach(nc: NatsConnection): Promise<void> {
    const o = this.d.options;
    await ensureStream(
      await jetstreamManager(nc),
      { name: o.eventsStream, subjects: eventSubjects(o.subjectPrefix), ...o.eventsRetention, duplicateWindowMs: o.duplicateWindowMs },
      this.d.log,
    );
    this.js = jetstream(nc);
    // Publishes sent before the connection dropped may never be answered: send them again now (same
    // Nats-Msg-Id, so a copy the server already stored is dropped) instead of waiting for their timeout.
    this.generation++;
    for (const m of this.inflight) this.buffer.retry(m);
    this.inflight.clear();
    this.pausedUntil = 0;
    this.schedule();
  }

  /** Publish in a later turn of the event loop, never in the caller's. */
  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    const js = this.js;
    if (!js || this.closed || !this.d.link.connected) return;
    const wait = this.pausedUntil - Date.now();
    if (wait > 0) {
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.pump(), wait);
      return;
    }
    while (this.inflight.size < this.d.options.maxInflightPublish) {
      const m = this.buffer.next();
      if (!m) return;
      this.send(js, m);
    }
  }

  private send(js: JetStreamClient, m: PendingMessage): void {
    const h = headers();
    for (const [k, v] of m.headers) h.set(k, v);
    const gen = this.generation;
    this.inflight.add(m);
    js.publish(m.subject, m.data, { msgID: m.msgId, headers: h, timeout: this.d.options.publishTimeoutMs }).then(
      (ack) => {
        if (gen === this.generation) this.inflight.delete(m);
        if (this.buffer.has(m)) {
          // The first acknowledgement of this message (a late one from an earlier attempt counts too).
          this.published++;
          if (ack.duplicate) this.duplicates++;
        }
        this.retryMs = RETRY_MIN_MS;
        this.buffer.ack(m);
        this.schedule();
      },
      (e: Error) => {
        if (gen !== this.generation || !this.inflight.delete(m)) return; // already sent again
        this.failures++;
        this.buffer.retry(m);
        if (this.closed) return;
        if (this.pausedUntil <= Date.now()) {
          this.d.log.debug('publish failed; retrying', { subject: m.subject, error: e.message, retryMs: this.retryMs });
          this.pausedUntil = Date.now() + this.retryMs;
          this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
        }
        this.schedule();
      },
    );
  }

  /**
   * Stop taking events; give what is held until `graceMs` to reach JetStream (a clean shutdown loses
   * nothing that can be published in that time), then stop.
   */
  async close(graceMs: number): Promise<void> {
    this.sub?.unsubscribe();
    const deadline = Date.now() + graceMs;
    while (this.buffer.size > 0 && this.d.link.connected && Date.now() < deadline) {
      this.pump();
      await new Promise((r) => setTimeout(r, 20));
    }
    this.closed = true;
    clearTimeout(this.retryTimer);
    if (this.buffer.size) this.d.log.warn(`${this.buffer.size} event(s) not yet in JetStream at shutdown are lost`);
  }
}
