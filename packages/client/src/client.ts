/**
 * A QMP client for Node over unix (with fd passing) and TCP: `await qmp.execute('query-status')`,
 * errors as QmpError carrying class and desc, events as an RxJS observable, a bounded pending map
 * that fails every waiting command when the connection drops.
 */
import { Subject, filter, type Observable } from 'rxjs';
import { QmpFramer, serializeQemu, toPlain, type JsonPlain } from '@qmpmux/protocol';
import { connect, type Conn } from '@qmpmux/transports';
import { closeSync } from 'node:fs';

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* gone */
  }
}

export class QmpError extends Error {
  constructor(
    readonly cls: string,
    readonly desc: string,
  ) {
    super(`${cls}: ${desc}`);
  }
}

export class QmpDisconnectedError extends Error {
  readonly code = 'QMP_DISCONNECTED';
  constructor() {
    super('QMP connection closed');
  }
}

export interface QmpEventMessage {
  event: string;
  data?: JsonPlain;
  timestamp: { seconds: number; microseconds: number };
  /** Exactly the bytes received (without the line end). */
  raw: Buffer;
}

export interface ClientOptions {
  /** Negotiate OOB when the server offers it (default false). */
  oob?: boolean;
  /** Commands waiting for a reply at once (default 1024); more is an error, not a queue. */
  maxPending?: number;
  /** Skip qmp_capabilities (for tests of negotiation itself). */
  negotiate?: boolean;
}

interface Pending {
  resolve(v: JsonPlain): void;
  reject(e: Error): void;
}

export class QmpClient {
  greeting: JsonPlain | undefined;
  /** Every message as received (raw bytes without the line end), for tests and tools. */
  readonly messages$ = new Subject<{ raw: Buffer; value: JsonPlain }>();
  readonly events$: Observable<QmpEventMessage>;
  closed = false;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly framer = new QmpFramer({ allowNonFinite: true, maxMessageBytes: 256 * 1024 * 1024 });
  private readonly eventsSubject = new Subject<QmpEventMessage>();
  private greetingWaiter: ((v: JsonPlain) => void) | undefined;
  private readonly maxPending: number;

  private constructor(
    readonly conn: Conn,
    opts: ClientOptions,
  ) {
    this.maxPending = opts.maxPending ?? 1024;
    this.events$ = this.eventsSubject.asObservable();
    conn.onData = (chunk, fds) => {
      for (const fd of fds) closeQuietly(fd); // never keep fds we did not ask for
      this.onData(chunk);
    };
    conn.onClose = () => this.onClose();
  }

  static async connect(address: string, opts: ClientOptions = {}): Promise<QmpClient> {
    const c = new QmpClient(await connect(address), opts);
    const greeting = new Promise<JsonPlain>((resolve, reject) => {
      c.greetingWaiter = resolve;
      c.conn.onClose = () => {
        c.onClose();
        reject(new QmpDisconnectedError());
      };
    });
    c.conn.start();
    c.greeting = await greeting;
    c.conn.onClose = () => c.onClose();
    if (opts.negotiate !== false) {
      const offered = ((c.greeting as { QMP?: { capabilities?: string[] } }).QMP?.capabilities ?? []).includes('oob');
      await c.execute('qmp_capabilities', opts.oob && offered ? { enable: ['oob'] } : undefined);
    }
    return c;
  }

  /** Events of one name (or all). */
  on(name?: string): Observable<QmpEventMessage> {
    return name ? this.events$.pipe(filter((e) => e.event === name)) : this.events$;
  }

  execute<T = JsonPlain>(command: string, args?: Record<string, JsonPlain>, opts: { fds?: number[]; oob?: boolean } = {}): Promise<T> {
    if (this.closed) return Promise.reject(new QmpDisconnectedError());
    if (this.pending.size >= this.maxPending) return Promise.reject(new Error(`too many commands waiting (maxPending=${this.maxPending})`));
    const id = this.nextId++;
    const msg = `{"${opts.oob ? 'exec-oob' : 'execute'}": ${serializeQemu(command)}${args ? `, "arguments": ${serializeQemu(args)}` : ''}, "id": ${id}}`;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: JsonPlain) => void, reject });
      this.conn.write(Buffer.from(msg, 'utf8'), opts.fds);
    });
  }

  /** Send bytes as they are (tests of framing). */
  sendRaw(data: Buffer | string, fds?: number[]): void {
    this.conn.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, fds);
  }

  close(): void {
    this.conn.end();
  }

  private onData(chunk: Buffer): void {
    for (const ev of this.framer.push(chunk)) {
      if (ev.type !== 'message') continue;
      const value = toPlain(ev.root) as Record<string, JsonPlain>;
      this.messages$.next({ raw: ev.raw, value });
      if (this.greetingWaiter && 'QMP' in value) {
        const w = this.greetingWaiter;
        this.greetingWaiter = undefined;
        w(value);
      } else if ('event' in value) {
        this.eventsSubject.next({ ...(value as unknown as QmpEventMessage), raw: ev.raw });
      } else if (typeof value.id === 'number' && this.pending.has(value.id)) {
        const p = this.pending.get(value.id)!;
        this.pending.delete(value.id);
        if ('error' in value) {
          const e = value.error as { class: string; desc: string };
          p.reject(new QmpError(e.class, e.desc));
        } else p.resolve(value.return as JsonPlain);
      }
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new QmpDisconnectedError());
    this.pending.clear();
    this.eventsSubject.complete();
    this.messages$.complete();
  }
}
