/**
 * The audit shipping thread (started by audit-thread.ts): runs the shippers it is asked to, each on a
 * NATS connection of this thread (one per distinct connection setting, shared), and reports their log
 * lines and progress to the main thread.
 */
import { parentPort } from 'node:worker_threads';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createLogger } from '@qmpmux/core';
import { startAuditShipper, type AuditShipper } from './audit-shipper.ts';
import type { ConnectionSettings, FromWorker, ToWorker } from './audit-thread.ts';
import { connectionOptions } from './connection.ts';

/** How often progress is reported to the main thread (ms). */
const PROGRESS_MS = 100;

const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);

interface Conn {
  key: string;
  /** Resolves once connected (the first connection is retried until it succeeds). */
  nc: Promise<NatsConnection>;
  users: number;
}
interface Running {
  conn: Conn;
  stopped: boolean;
  started: Promise<void>;
  shipper?: AuditShipper;
  reported: string;
}

const conns = new Map<string, Conn>();
const running = new Map<number, Running>();

function useConnection(settings: ConnectionSettings): Conn {
  const key = JSON.stringify(settings);
  let c = conns.get(key);
  if (!c) {
    c = { key, users: 0, nc: connect({ ...connectionOptions(settings, settings.name), waitOnFirstConnect: true }) };
    conns.set(key, c);
  }
  c.users++;
  return c;
}

async function release(c: Conn): Promise<void> {
  if (--c.users > 0) return;
  conns.delete(c.key);
  const nc = await c.nc.catch(() => undefined);
  await nc?.close().catch(() => undefined);
}

function start(id: number, options: Extract<ToWorker, { type: 'start' }>['options']): void {
  const { connection, ...shipperOptions } = options;
  const log = createLogger('audit-shipper', 'debug', (level, _tag, msg, fields) => {
    if (level !== 'silent') post({ type: 'log', id, level, msg, fields });
  });
  const conn = useConnection(connection);
  const r: Running = { conn, stopped: false, started: Promise.resolve(), reported: '' };
  r.started = conn.nc.then(
    (nc) => {
      if (!r.stopped) r.shipper = startAuditShipper({ ...shipperOptions, nc, log });
    },
    (e: Error) => log.error(`cannot connect to NATS for audit shipping: ${e.message}`),
  );
  running.set(id, r);
}

async function stop(id: number): Promise<void> {
  const r = running.get(id);
  if (r) {
    r.stopped = true;
    running.delete(id);
    // Not connected yet: the shipper never starts (the connection is closed once it is made).
    await Promise.race([r.started, Promise.resolve()]);
    await r.shipper?.stop();
    void release(r.conn);
  }
  post({ type: 'stopped', id });
}

port.on('message', (m: ToWorker) => {
  if (m.type === 'start') start(m.id, m.options);
  else void stop(m.id);
});

setInterval(() => {
  for (const [id, r] of running) {
    const s = r.shipper;
    const now = s ? `${s.shipped}/${s.lastShippedSeq}` : '';
    if (s && now !== r.reported) {
      r.reported = now;
      post({ type: 'progress', id, shipped: s.shipped, lastShippedSeq: s.lastShippedSeq });
    }
  }
}, PROGRESS_MS);
