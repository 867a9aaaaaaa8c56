/** A frame-level WebSocket client for tests: send exactly these frames, collect exactly the frames that come back. */
import WebSocket, { type ClientOptions } from 'ws';
import { Packr, Unpackr } from 'msgpackr';
import { setTimeout as sleep } from 'node:timers/promises';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' as 'bigint' });

export class WsHandshakeError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`WebSocket handshake refused: HTTP ${status} ${body.trim()}`);
  }
}

export class WsClient {
  /** Every frame received, in order. */
  readonly frames: { data: Buffer; binary: boolean }[] = [];
  /** Set when the connection has closed. */
  closed: { code: number; reason: string } | undefined;
  /** Response headers of the handshake. */
  headers: Record<string, string | string[] | undefined> = {};
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, binary: boolean) => {
      this.frames.push({ data, binary });
      this.wake();
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    ws.on('error', () => {}); // reported through 'close'
  }

  /** Open a connection; rejects with WsHandshakeError when the server answers the upgrade with an HTTP error. */
  static connect(url: string, opts: { protocols?: string[]; headers?: Record<string, string> } & Omit<ClientOptions, 'headers'> = {}): Promise<WsClient> {
    const { protocols, ...rest } = opts;
    const ws = new WebSocket(url, protocols ?? [], rest);
    const c = new WsClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('upgrade', (res) => (c.headers = res.headers));
      ws.once('open', () => resolve(c));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => reject(new WsHandshakeError(res.statusCode ?? 0, body)));
      });
      ws.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  get protocol(): string {
    return this.ws.protocol;
  }
  /** Frames as text (qmp.json). */
  get texts(): string[] {
    return this.frames.map((f) => f.data.toString('utf8'));
  }
  /** Frames decoded as MessagePack (qmp.msgpack); integers beyond 2^53 are bigint. */
  get values(): any[] {
    return this.frames.map((f) => unpackr.unpack(f.data));
  }

  send(data: string | Buffer): void {
    this.ws.send(data, { binary: typeof data !== 'string' });
  }
  /** One MessagePack value in one binary frame. */
  sendValue(value: unknown): void {
    this.ws.send(packr.pack(value), { binary: true });
  }

  /** Wait until `pred` holds (checked on every arrival), or fail after `ms`. */
  async until(pred: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (this.closed && !pred()) throw new Error(`WebSocket closed (${this.closed.code} ${this.closed.reason}) while waiting for ${what}; got ${this.frames.length} frames`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${this.frames.length} frames: ${this.texts.slice(-3).join(' | ')}`);
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), sleep(Math.min(left, 200))]);
    }
  }

  /** Wait for `n` frames in total. */
  count(n: number, ms?: number): Promise<void> {
    return this.until(() => this.frames.length >= n, ms, `${n} frames`);
  }

  /** Wait for the connection to close; returns its close code and reason. */
  async closing(ms = 10_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for the WebSocket to close; got ${this.frames.length} frames`);
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), sleep(Math.min(left, 200))]);
    }
    return this.closed;
  }

  close(): void {
    this.ws.close(1000);
  }
}
