/**
 * JetStream publishes for the audit shipper, one at a time, each ack coming back on one private
 * subscription (`<inbox>.<n>`). The same protocol as `js.publish` (a message with a reply subject; the
 * stream answers with a PubAck), at about half its CPU per message: js.publish sets up a request of
 * its own for every message. A reply for an earlier publish (one that timed out) is recognised by its
 * number and ignored.
 */
import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';

/** JetStream refused the message (its `err_code`: 10071 = wrong last sequence). */
export class PublishRefused extends Error {
  constructor(
    readonly code: number,
    description: string,
  ) {
    super(`JetStream refused the record: ${description} (${code})`);
  }
}

export interface Ack {
  /** The stream sequence of the message (of the first copy, for a duplicate). */
  seq: number;
  duplicate: boolean;
}

export class AckPublisher {
  private readonly inbox = createInbox();
  private readonly sub: Subscription;
  private n = 0;
  private waiting: { n: number; resolve(a: Ack): void; reject(e: Error): void } | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {
    this.sub = nc.subscribe(`${this.inbox}.*`, { callback: (err, m) => this.answer(err, m) });
  }

  /** Publish and wait for the stream's ack; rejects on a refusal, a timeout or a closed connection. */
  publish(subject: string, payload: Uint8Array, headers: MsgHdrs): Promise<Ack> {
    if (this.waiting) return Promise.reject(new Error('a publish is already in flight'));
    const n = ++this.n;
    return new Promise<Ack>((resolve, reject) => {
      const timer = setTimeout(() => settle(new Error(`no ack from JetStream in ${this.timeoutMs} ms`)), this.timeoutMs);
      const settle = (r: Ack | Error) => {
        clearTimeout(timer);
        this.waiting = undefined;
        if (r instanceof Error) reject(r);
        else resolve(r);
      };
      this.waiting = { n, resolve: settle, reject: settle };
      try {
        this.nc.publish(subject, payload, { reply: `${this.inbox}.${n}`, headers });
      } catch (e) {
        settle(e as Error);
      }
    });
  }

  close(): void {
    this.waiting?.reject(new Error('the audit publisher was closed'));
    this.sub.unsubscribe();
  }

  private answer(err: Error | null, m: Msg): void {
    const w = this.waiting;
    if (!w || m.subject !== `${this.inbox}.${w.n}`) return; // the late answer to an earlier publish
    if (err) return w.reject(err);
    if (m.headers?.code === 503 || !m.data.length) return w.reject(new Error('no JetStream stream answered (no responders)'));
    let ack: { seq?: number; duplicate?: boolean; error?: { err_code?: number; code?: number; description?: string } };
    try {
      ack = JSON.parse(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString('utf8'));
    } catch (e) {
      return w.reject(new Error(`an unreadable ack from JetStream: ${(e as Error).message}`));
    }
    if (ack.error) return w.reject(new PublishRefused(ack.error.err_code ?? ack.error.code ?? 0, ack.error.description ?? 'no description'));
    if (typeof ack.seq !== 'number') return w.reject(new Error('an ack from JetStream without a sequence'));
    w.resolve({ seq: ack.seq, duplicate: ack.duplicate === true });
  }
}
