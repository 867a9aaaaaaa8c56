/**
 * The VM's entry in the fleet inventory: KV bucket `QMPMUX_VMS` (inventoryBucket), key `<vm>`, value
 * JSON `{"vm","host","pid","qemuVersion","upstream":{"address","state"},"listeners":[…],"clients":N,"updatedAt"}`.
 *
 * Written when something in it changes (upstream state, QEMU version, listeners, client count —
 * checked on each upstream state change and client arrival/departure, debounced, and every
 * CHECK_MS for what has no signal), and rewritten every ttl/3 regardless. The bucket's max age is
 * `ttl`, so the entry of a host that died (no clean shutdown) expires within ttl. A clean shutdown
 * deletes it. nats-server 2.9 has no per-message TTL: the TTL is the bucket's, one for every host.
 */
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { JsonPlain, Logger, ProxyApi } from '@qmpmux/core';
import type { Subscription } from 'rxjs';
import type { NatsLink } from './connection.ts';

/** Coalesce bursts of changes (a client storm) into one write (ms). */
export const DEBOUNCE_MS = 250;
/** How often what has no change signal (listeners, QEMU version) is compared (ms). */
export const CHECK_MS = 1_000;
/** How long a clean shutdown waits for the delete (ms). */
export const DELETE_TIMEOUT_MS = 2_000;

export interface InventoryEntry {
  vm: string;
  host: string;
  pid: number;
  qemuVersion: string | null;
  upstream: { address: string; state: string };
  listeners: string[];
  clients: number;
  updatedAt: string;
}

export interface InventoryDeps {
  proxy: ProxyApi;
  link: NatsLink;
  vm: string;
  host: string;
  bucket: string;
  /** Seconds. */
  ttl: number;
  log: Logger;
}

/** `major.minor.micro` from query-version's return. */
export function qemuVersion(v: JsonPlain | undefined): string | null {
  const q = (v as { qemu?: { major?: unknown; minor?: unknown; micro?: unknown } } | undefined)?.qemu;
  return q && typeof q.major === 'number' ? `${q.major}.${q.minor}.${q.micro}` : null;
}

export class Inventory {
  private kv: KV | undefined;
  private last = '';
  private debounce: NodeJS.Timeout | undefined;
  private checker: NodeJS.Timeout | undefined;
  private refresher: NodeJS.Timeout | undefined;
  private writing: Promise<unknown> = Promise.resolve();
  private sub: Subscription | undefined;
  private closed = false;

  constructor(private readonly d: InventoryDeps) {}

  start(): void {
    this.sub = this.d.proxy.upstreamState$.subscribe(() => this.changed());
    this.d.link.onConnected((nc) => this.attach(nc));
    this.checker = setInterval(() => this.write(false), CHECK_MS);
    this.refresher = setInterval(() => this.write(true), (this.d.ttl * 1000) / 3);
    this.checker.unref();
    this.refresher.unref();
  }

  /** Something in the entry may have changed (a client came or went): write soon. */
  changed(): void {
    if (this.closed || this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.write(false);
    }, DEBOUNCE_MS);
  }

  entry(): InventoryEntry {
    const p = this.d.proxy;
    return {
      vm: this.d.vm,
      host: this.d.host,
      pid: process.pid,
      qemuVersion: qemuVersion(p.upstreamVersion),
      upstream: { address: p.upstreamAddress, state: p.upstreamState },
      listeners: [...p.listenerAddresses],
      clients: p.clients.size,
      updatedAt: new Date().toISOString(),
    };
  }

  private async attach(nc: NatsConnection): Promise<void> {
    const kv = await new Kvm(nc).create(this.d.bucket, { ttl: this.d.ttl * 1000, history: 1 });
    const st = await kv.status();
    if (st.ttl !== this.d.ttl * 1000) this.d.log.warn(`KV bucket ${this.d.bucket} exists with a TTL of ${st.ttl / 1000} s (configured: ${this.d.ttl} s); it is used as it is`);
    this.kv = kv;
    this.write(true);
  }

  /** Put the entry when it changed (or always, to refresh it), one write at a time. */
  private write(always: boolean): void {
    const kv = this.kv;
    if (!kv || this.closed || !this.d.link.connected) return;
    const e = this.entry();
    const key = JSON.stringify({ ...e, updatedAt: '' });
    if (!always && key === this.last) return;
    this.last = key;
    this.writing = this.writing.then(() =>
      kv.put(this.d.vm, JSON.stringify(e)).catch((err: Error) => {
        this.last = ''; // try again at the next check
        this.d.log.debug('inventory not written', { error: err.message });
      }),
    );
  }

  /** Clean shutdown: stop writing and delete the entry (bounded wait). */
  async close(): Promise<void> {
    this.closed = true;
    this.sub?.unsubscribe();
    clearTimeout(this.debounce);
    clearInterval(this.checker);
    clearInterval(this.refresher);
    const kv = this.kv;
    if (!kv || !this.d.link.connected) return;
    let timer: NodeJS.Timeout | undefined;
    const deleted = this.writing.then(() => kv.delete(this.d.vm));
    await Promise.race([deleted, new Promise((r) => (timer = setTimeout(r, DELETE_TIMEOUT_MS)))]).catch((e: Error) =>
      this.d.log.warn(`inventory entry not deleted: ${e.message}`),
    );
    clearTimeout(timer);
  }
}
