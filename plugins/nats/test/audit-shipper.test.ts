/**
 * The audit shipper against a real nats-server and a real audit log written by the real hmp-audit
 * plugin in front of a real QEMU: every record lands in QMPMUX_AUDIT exactly once, in order, as the
 * log's line; NATS down at start; kill -9 of nats-server mid-stream; kill -9 of the shipping process;
 * rotation while shipping; a log that does not exist yet. kill -9 of qmpmux: audit-serve.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { listSegments } from '@qmpmux/audit-log';
import { QmpClient } from '@qmpmux/client';
import { startNats, startProxy, useQemu, useTempDir, type TestNats, type TestProxy } from '@qmpmux/e2e';
import { startAuditShipper, type AuditShipper } from '../src/audit-shipper.ts';
import { auditPlugin, countOnSubject, hmp, localRecords, reconnected, sameAsLog, streamMessages, traffic } from './audit-helpers.ts';
import { captureLog, natsClient, until } from './helpers.ts';

const STREAM = 'QMPMUX_AUDIT';
const SUBJECT = 'qmpmux.vm1.audit';
const tmp = useTempDir('qmpmux-nats-audit-');
const qemu = useQemu();

let n = 0;
const logPath = () => join(tmp, `${n++}`, 'audit.log');

/** One test's world: a nats-server, a connection, a qmpmux with hmp-audit, a shipper; all stopped at the end. */
class World {
  nats!: TestNats;
  nc!: NatsConnection;
  mux: TestProxy | undefined;
  shipper: AuditShipper | undefined;
  readonly cap = captureLog();
  readonly path = logPath();
  async start(auditOptions: Record<string, unknown> = {}): Promise<this> {
    this.nats = await startNats();
    this.nc = await natsClient(this.nats.url);
    this.mux = await startProxy(qemu.address, { plugins: [auditPlugin(this.path, auditOptions)] });
    return this;
  }
  ship(): AuditShipper {
    this.shipper = startAuditShipper({ nc: this.nc, vm: 'vm1', subjectPrefix: 'qmpmux', stream: STREAM, logPath: this.path, host: 'host-a', log: this.cap.log, publishTimeoutMs: 2000 });
    return this.shipper;
  }
  /** Stop qmpmux (its `stop` record is the log's last) and wait until the shipper has shipped the whole log. */
  async finish(): Promise<void> {
    await this.mux?.stop();
    this.mux = undefined;
    const last = localRecords(this.path).at(-1)!.seq;
    await until(() => this.shipper!.lastShippedSeq === last, `the shipper reaches seq ${last}`);
  }
  async check(): Promise<void> {
    const problem = sameAsLog(await streamMessages(this.nc, STREAM, SUBJECT), this.path, 'host-a');
    assert.equal(problem, undefined, problem);
  }
  /** Stop everything, each step whatever the one before did. */
  async stop(): Promise<void> {
    const steps = [() => this.shipper?.stop(), () => this.mux?.stop(), () => this.nc?.close(), () => this.nats?.stop()];
    for (const step of steps) await Promise.resolve().then(step).catch(() => undefined);
  }
}

describe('the audit shipper', () => {
  it('ships every record of the log once, in order, as its line, with the layout’s headers, to a file-storage stream it creates', async () => {
    const w = await new World().start();
    try {
      const shipper = w.ship();
      const c = await QmpClient.connect(w.mux!.unix);
      const replies = [];
      for (const line of ['info status', 'p/x 255', 'foo', 'info version', 'c', 'p "\u00e9\\n"']) replies.push(await hmp(c, line));
      c.close();
      assert.equal(replies[0], 'VM status: running\r\n');
      await w.finish();
      await w.check();
      const local = localRecords(w.path);
      assert.deepEqual(
        local.map((r) => r.type),
        ['file', 'start', ...Array(6).fill(['command', 'reply']).flat(), 'stop'],
      );
      assert.equal(shipper.shipped, local.length);
      const info = await (await jetstreamManager(w.nc)).streams.info(STREAM);
      assert.equal(info.config.storage, 'file');
      assert.deepEqual(info.config.subjects, ['qmpmux.*.audit']);
    } finally {
      await w.stop();
    }
  });

  it('waits for a log that does not exist yet', async () => {
    const w = new World();
    w.nats = await startNats();
    w.nc = await natsClient(w.nats.url);
    try {
      w.ship();
      await until(async () => (await (await jetstreamManager(w.nc)).streams.names().next()).includes(STREAM), 'the stream exists');
      assert.equal(await countOnSubject(w.nc, STREAM, SUBJECT), 0);
      w.mux = await startProxy(qemu.address, { plugins: [auditPlugin(w.path)] });
      const c = await QmpClient.connect(w.mux.unix);
      await hmp(c, 'info status');
      c.close();
      await w.finish();
      await w.check();
    } finally {
      await w.stop();
    }
  });

  it('NATS down when it starts: local clients are served, and once NATS is up every record is shipped', async () => {
    const w = await new World().start();
    try {
      await w.nats.kill9();
      const c = await QmpClient.connect(w.mux!.unix);
      for (let i = 1; i < 20; i++) assert.equal(await hmp(c, `p ${i}`), `0x${i.toString(16)}\r\n`);
      w.ship();
      for (let i = 20; i < 40; i++) assert.equal(await hmp(c, `p ${i}`), `0x${i.toString(16)}\r\n`);
      await until(() => w.cap.lines.some((l) => l.level === 'warn' && /audit shipping for vm1 to NATS failed/.test(l.msg)), 'the shipper says it failed');
      assert.equal(w.shipper!.shipped, 0);
      await w.nats.restart();
      for (let i = 40; i < 60; i++) assert.equal(await hmp(c, `p ${i}`), `0x${i.toString(16)}\r\n`);
      c.close();
      await w.finish();
      await w.check();
      assert.ok(w.cap.lines.some((l) => l.level === 'info' && /goes on/.test(l.msg)));
    } finally {
      await w.stop();
    }
  });

  it('kill -9 of nats-server while shipping, then a restart: no acknowledged record lost, none twice', async () => {
    const w = await new World().start();
    try {
      const shipper = w.ship();
      const load = traffic(w.mux!.unix);
      await until(() => shipper.shipped >= 200, '200 records shipped');
      const acked = shipper.lastShippedSeq!;
      await w.nats.kill9();
      const during = load.replies();
      await until(() => load.replies() >= during + 100, 'commands go on while NATS is down');
      await w.nats.restart();
      await reconnected(w.nc);
      // What was acknowledged before the kill is still there (file storage), before anything is shipped again.
      const after = await streamMessages(w.nc, STREAM, SUBJECT);
      assert.ok(after.some((s) => s.record.seq === acked), `acknowledged record seq ${acked} survived`);
      await until(() => shipper.lastShippedSeq! > acked + 100, 'shipping goes on');
      await load.stop();
      await w.finish();
      await w.check();
    } finally {
      await w.stop();
    }
  });

  it('follows the log through rotations while shipping', async () => {
    const w = await new World().start({ rotate: { maxBytes: 4096 } });
    try {
      w.ship();
      const load = traffic(w.mux!.unix);
      await until(() => listSegments(w.path).length >= 8, 'the log rotated 8 times');
      await load.stop();
      await w.finish();
      await w.check();
    } finally {
      await w.stop();
    }
  });
});
