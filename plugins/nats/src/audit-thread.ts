/**
 * Audit shippers off qmpmux's main thread. Shipping costs about 100 µs of CPU per record (most of it the
 * NATS client library and the socket write), and a busy audited VM writes two records per command: on
 * the main thread that time would be taken between local clients' commands. So one worker thread per
 * process runs every VM's shipper (audit-shipper.ts), on NATS connections of its own (one per distinct
 * connection setting); the main thread only receives their log lines and progress.
 *
 * The worker starts with the first shipper and ends with the last one. Should it die (a bug), each
 * shipper's log says so and the worker is started again after WORKER_RESTART_MS with every shipper:
 * they resume from what the stream holds, as after a restart of qmpmux.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '@qmpmux/core';
import type { AuditShipper, AuditShipperOptions } from './audit-shipper.ts';
import type { NatsOptions } from './options.ts';

/** How the worker connects: the plugin's connection options (plain data; secrets already read). */
export type ConnectionSettings = Pick<NatsOptions, 'servers' | 'user' | 'password' | 'token' | 'creds' | 'tls'> & { name: string };

export interface ThreadShipperOptions extends Omit<AuditShipperOptions, 'nc'> {
  connection: ConnectionSettings;
}

/** Wait before starting a worker that died again (ms). */
export const WORKER_RESTART_MS = 1_000;
/** How long stop() waits for the worker to stop a shipper (ms). */
export const WORKER_STOP_MS = 10_000;

export type ToWorker = { type: 'start'; id: number; options: Omit<ThreadShipperOptions, 'log'> } | { type: 'stop'; id: number };
export type FromWorker =
  | { type: 'log'; id: number; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; fields?: Record<string, unknown> }
  | { type: 'progress'; id: number; shipped: number; lastShippedSeq: number | undefined }
  | { type: 'stopped'; id: number };

class ThreadShipper implements AuditShipper {
  shipped = 0;
  lastShippedSeq: number | undefined;
  constructor(
    readonly id: number,
    readonly opts: ThreadShipperOptions,
    private readonly host: Host,
  ) {}
  stop(): Promise<void> {
    return this.host.stop(this);
  }
}

class Host {
  private worker: Worker | undefined;
  private readonly shippers = new Map<number, ThreadShipper>();
  /** Shippers being stopped, waiting for the worker's word. */
  private readonly stopping = new Map<number, () => void>();
  private nextId = 0;
  private restartTimer: NodeJS.Timeout | undefined;

  get size(): number {
    return this.worker ? this.shippers.size : 0;
  }

  start(opts: ThreadShipperOptions): AuditShipper {
    const s = new ThreadShipper(++this.nextId, opts, this);
    this.shippers.set(s.id, s);
    this.ensureWorker().postMessage(startMessage(s));
    return s;
  }

  async stop(s: ThreadShipper): Promise<void> {
    if (!this.shippers.delete(s.id)) return;
    const w = this.worker;
    if (w) {
      const done = new Promise<void>((resolve) => {
        this.stopping.set(s.id, resolve);
        setTimeout(resolve, WORKER_STOP_MS).unref();
      });
      w.postMessage({ type: 'stop', id: s.id } satisfies ToWorker);
      await done;
      this.stopping.delete(s.id);
    }
    if (this.shippers.size === 0) {
      clearTimeout(this.restartTimer);
      this.worker = undefined;
      await w?.terminate();
    }
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./audit-thread-worker.mjs', import.meta.url));
    w.unref(); // qmpmux lives by its listeners; the plugin stops its shipper at close
    w.on('message', (m: FromWorker) => {
      if (m.type === 'stopped') return this.stopping.get(m.id)?.();
      const s = this.shippers.get(m.id);
      if (!s) return;
      if (m.type === 'log') s.opts.log[m.level](m.msg, m.fields);
      else if (m.type === 'progress') {
        s.shipped = m.shipped;
        s.lastShippedSeq = m.lastShippedSeq;
      }
    });
    w.on('error', (e) => this.died(w, e.message));
    w.on('exit', (code) => this.died(w, `exit code ${code}`));
    this.worker = w;
    return w;
  }

  private died(w: Worker, why: string): void {
    if (this.worker !== w) return; // terminated on purpose, or already replaced
    this.worker = undefined;
    for (const s of this.shippers.values()) s.opts.log.error(`the audit shipping thread ended (${why}): starting it again in ${WORKER_RESTART_MS} ms; shipping resumes from what the stream holds`);
    this.restartTimer = setTimeout(() => {
      if (!this.shippers.size) return;
      const nw = this.ensureWorker();
      for (const s of this.shippers.values()) nw.postMessage(startMessage(s));
    }, WORKER_RESTART_MS);
    this.restartTimer.unref();
  }
}

function startMessage(s: ThreadShipper): ToWorker {
  const { log: _log, ...options } = s.opts;
  return { type: 'start', id: s.id, options };
}

let host: Host | undefined;

/** How many shippers the audit shipping thread runs now (0: no thread). */
export function auditThreadShippers(): number {
  return host?.size ?? 0;
}

/** Start an audit shipper in the process's audit shipping thread (created on first use). */
export function startAuditShipperThread(opts: ThreadShipperOptions): AuditShipper {
  host ??= new Host();
  return host.start(opts);
}
