/**
 * Reading the fleet from NATS (what `qmpmux fleet` shows): the inventory, the events stream (replay
 * and tail, across hosts), and commands through a VM's gateway. It knows the layout (docs/nats.md);
 * the CLI presents it.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { DeliverPolicy, jetstream, type Consumer, type JsMsg, type OrderedConsumerOptions } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connectionOptions, connectNats } from './connection.ts';
import { DEFAULTS, type TlsFiles } from './options.ts';
import type { InventoryEntry } from './inventory.ts';

/** Reading stored messages (no follow): give up when JetStream delivers nothing for this long. */
export const READ_IDLE_MS = 10_000;

export interface FleetOptions {
  servers: string[];
  /** Credentials, as the plugin takes them (at most one way). */
  user?: string;
  password?: string;
  token?: string;
  creds?: Uint8Array;
  /** TLS files, as the plugin's `tls` option (a `tls://` server URL alone: TLS with the system's CAs). */
  tls?: TlsFiles;
  subjectPrefix?: string;
  eventsStream?: string;
  inventoryBucket?: string;
  /** Keep reconnecting (a --follow that outlives a NATS restart); default: fail when the server goes. */
  reconnect?: boolean;
}

/** One message of the events stream, as `fleet events` prints it. */
export type FleetMessage =
  | { kind: 'event'; vm: string; name: string; raw: Buffer; streamSeq: number; headers: Record<string, string> }
  | { kind: 'gap'; vm: string; gap: { vm: string; epoch: number; fromSeq: number; toSeq: number; dropped: number; reason: string }; streamSeq: number };

export interface EventQuery {
  /** A VM name, or a glob (`*` any run, `?` one character). */
  vm?: string;
  /** An event name (exact). */
  event?: string;
  /** From this stream sequence, or this time; default: the start of the stream. */
  since?: { seq: number } | { time: Date };
  /** Keep waiting for new messages after the stored ones. */
  follow?: boolean;
}

const GLOB_CHARS = /[*?]/;

/** A glob over VM names: `*` any run of characters, `?` one. */
export function vmGlob(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

/**
 * Listing the inventory's keys: nothing from the server for this long while the listing is not done
 * means it stalled, and it is started again.
 */
export const KEYS_STALL_MS = 2_000;

/**
 * The keys of a KV bucket. nats.js's `keys()` counts what the server says is pending when it starts and
 * waits for that many; an entry that expires (the bucket's TTL) in between is never delivered, and the
 * listing would wait forever — measured: 6 listings in 30 taken at the moment an entry expired. So a
 * stalled listing is stopped and taken again (the expired entry is gone by then), three times at most.
 */
async function listKeys(kv: KV): Promise<string[]> {
  for (let attempt = 1; ; attempt++) {
    const it = await kv.keys();
    let stalled = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = true;
        it.stop();
      }, KEYS_STALL_MS);
    };
    const keys: string[] = [];
    arm();
    try {
      for await (const k of it) {
        keys.push(k);
        arm();
      }
    } finally {
      clearTimeout(timer);
    }
    if (!stalled) return keys;
    if (attempt === 3) throw new Error(`listing the KV bucket's keys stalled ${attempt} times (no answer for ${KEYS_STALL_MS} ms)`);
  }
}

export class Fleet {
  private constructor(
    readonly nc: NatsConnection,
    private readonly prefix: string,
    private readonly stream: string,
    private readonly bucket: string,
  ) {}

  static async open(o: FleetOptions): Promise<Fleet> {
    const opts = connectionOptions({ servers: o.servers, user: o.user, password: o.password, token: o.token, creds: o.creds ? { path: '', content: o.creds } : undefined, tls: o.tls }, 'qmpmux fleet');
    if (!o.reconnect) Object.assign(opts, { reconnect: false, maxReconnectAttempts: 0 });
    const nc = await connectNats({ ...opts, timeout: 5_000 });
    return new Fleet(nc, o.subjectPrefix ?? DEFAULTS.subjectPrefix, o.eventsStream ?? DEFAULTS.eventsStream, o.inventoryBucket ?? DEFAULTS.inventoryBucket);
  }

  close(): Promise<void> {
    return this.nc.close();
  }

  /** Every VM in the inventory (live entries only), by name. */
  async ls(): Promise<InventoryEntry[]> {
    let kv;
    try {
      kv = await new Kvm(this.nc).open(this.bucket);
      await kv.status();
    } catch {
      return []; // no bucket: no qmpmux has ever registered
    }
    const out: InventoryEntry[] = [];
    for (const k of await listKeys(kv)) {
      const e = await kv.get(k);
      if (e && e.operation === 'PUT') out.push(e.json() as InventoryEntry);
    }
    return out.sort((a, b) => a.vm.localeCompare(b.vm));
  }

  /** The subject a VM's gateway serves. */
  gatewaySubject(vm: string): string {
    return `${this.prefix}.${vm}.qmp`;
  }

  /** Send one QMP command to a VM's gateway; the reply's bytes. */
  async exec(vm: string, request: Buffer, timeoutMs: number): Promise<Buffer> {
    const m = await this.nc.request(this.gatewaySubject(vm), request, { timeout: timeoutMs });
    return Buffer.from(m.data);
  }

  /** The stored events (and gaps) matching `q`, then — with `follow` — new ones as they come. */
  async *events(q: EventQuery, signal?: AbortSignal): AsyncGenerator<FleetMessage> {
    const js = jetstream(this.nc);
    const vmExact = q.vm !== undefined && !GLOB_CHARS.test(q.vm) ? q.vm : undefined;
    const vmMatch = q.vm !== undefined ? vmGlob(q.vm) : undefined;
    const opts: Partial<OrderedConsumerOptions> = {};
    // nats-server 2.9 takes one filter subject, which must lie within one of the stream's subjects:
    // filter on the server when an event name is given, otherwise here.
    if (q.event !== undefined) opts.filter_subjects = `${this.prefix}.${vmExact ?? '*'}.event.${q.event}`;
    if (q.since && 'seq' in q.since) Object.assign(opts, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: q.since.seq });
    else if (q.since) Object.assign(opts, { deliver_policy: DeliverPolicy.StartTime, opt_start_time: q.since.time.toISOString() });
    else opts.deliver_policy = DeliverPolicy.All;
    const c: Consumer = await js.consumers.get(this.stream, opts);
    const pending = (await c.info(true)).num_pending;
    if (!q.follow && pending === 0) return;
    const iter = await c.consume();
    const stop = () => iter.stop();
    signal?.addEventListener('abort', stop, { once: true });
    // Without --follow the stored messages are read to the end; a consumer that stops delivering
    // while some are still pending (the server went away, say) must not leave the reader waiting.
    let stalled = false;
    let idle: NodeJS.Timeout | undefined;
    const watch = () => {
      if (q.follow) return;
      clearTimeout(idle);
      idle = setTimeout(() => ((stalled = true), iter.stop()), READ_IDLE_MS);
    };
    watch();
    try {
      for await (const m of iter) {
        watch();
        const out = this.parse(m);
        if (out && (!vmMatch || vmMatch.test(out.vm)) && (q.event === undefined || (out.kind === 'event' && out.name === q.event))) yield out;
        if (!q.follow && m.info.pending === 0) break;
      }
    } finally {
      clearTimeout(idle);
      signal?.removeEventListener('abort', stop);
      iter.stop();
    }
    if (stalled) throw new Error(`JetStream delivered nothing for ${READ_IDLE_MS / 1000} s while stored messages were pending (stream ${this.stream})`);
  }

  private parse(m: JsMsg): FleetMessage | undefined {
    if (!m.subject.startsWith(this.prefix + '.')) return undefined;
    const [vm, kind, ...rest] = m.subject.slice(this.prefix.length + 1).split('.');
    if (!vm) return undefined;
    if (kind === 'event' && rest.length) {
      const headers: Record<string, string> = {};
      for (const k of m.headers?.keys() ?? []) headers[k] = m.headers!.get(k);
      return { kind: 'event', vm, name: rest.join('.'), raw: Buffer.from(m.data), streamSeq: m.seq, headers };
    }
    if (kind === 'gap') {
      try {
        return { kind: 'gap', vm, gap: m.json(), streamSeq: m.seq };
      } catch {
        return undefined;
      }
    }
    return undefined;
  }
}
