/** A byte-level client: send exactly these bytes, collect exactly what comes back. */
import { connect, type Conn } from '@qmpmux/transports';
import { QmpFramer, toPlain, type JsonPlain } from '@qmpmux/protocol';
import { setTimeout as sleep } from 'node:timers/promises';

export class RawClient {
  readonly messages: { raw: string; value: JsonPlain }[] = [];
  /** Everything received, as bytes (latin1 string). */
  received = '';
  closed = false;
  private readonly framer = new QmpFramer({ allowNonFinite: true, maxMessageBytes: 1 << 30 });
  private waiters: (() => void)[] = [];

  private constructor(readonly conn: Conn) {
    conn.onData = (chunk) => {
      this.received += chunk.toString('latin1');
      for (const ev of this.framer.push(chunk)) {
        if (ev.type === 'message') this.messages.push({ raw: ev.raw.toString('latin1'), value: toPlain(ev.root) });
      }
      this.wake();
    };
    conn.onClose = () => {
      this.closed = true;
      this.wake();
    };
  }

  static async connect(address: string): Promise<RawClient> {
    const c = new RawClient(await connect(address));
    c.conn.start();
    return c;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(data: string | Buffer, fds?: number[]): void {
    this.conn.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, fds);
  }

  /** Wait until `pred` holds (checked on every arrival), or fail after `ms`. */
  async until(pred: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (this.closed && !pred()) throw new Error(`connection closed while waiting for ${what}; got ${this.messages.length} messages`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${this.messages.length} messages: ${this.messages.slice(-3).map((m) => m.raw).join(' | ')}`);
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), sleep(Math.min(left, 200))]);
    }
  }

  /** Wait for `n` messages in total. */
  count(n: number, ms?: number): Promise<void> {
    return this.until(() => this.messages.length >= n, ms, `${n} messages`);
  }

  /** Wait for a reply carrying this id text (e.g. '"sync-3"'). */
  async reply(idText: string, ms?: number): Promise<{ raw: string; value: JsonPlain }> {
    const has = () => this.messages.find((m) => m.raw.includes(`"id": ${idText}`));
    await this.until(() => !!has(), ms, `reply ${idText}`);
    return has()!;
  }

  close(): void {
    this.conn.end();
  }
}
