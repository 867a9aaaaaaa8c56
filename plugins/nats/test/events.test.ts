/** QEMU's events in the JetStream events stream: subjects, payload bytes, headers, stream set-up. Real QEMU and nats-server. */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ConfigError } from '@qmpmux/core';
import { startNats, type TestNats } from '@qmpmux/e2e';
import { natsClient, readStream, startMux, togglePairs, until, streamCount, type Mux } from './helpers.ts';

describe('events to JetStream', () => {
  let nats: TestNats;
  let nc: NatsConnection;
  let m: Mux | undefined;
  before(async () => {
    nats = await startNats();
    nc = await natsClient(nats.url);
  });
  afterEach(async () => {
    await m?.stop();
    m = undefined;
  });
  after(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it("publishes each event on <p>.<vm>.event.<EVENT> with exactly QEMU's bytes and the agreed headers", async () => {
    m = await startMux({ servers: [nats.url] });
    await until(async () => (await streamCount(nc, 'QMPMUX_EVENTS')) >= 0 && m!.lines.some((l) => /created JetStream stream QMPMUX_EVENTS/.test(l.msg)), 'the stream');
    const seen = await togglePairs(m.mux.unix, 2);
    await until(async () => (await streamCount(nc, 'QMPMUX_EVENTS')) === 4, '4 events in the stream');
    const msgs = await readStream(nc, 'QMPMUX_EVENTS');
    assert.deepEqual(
      msgs.map((x) => x.subject),
      ['qmpmux.vm1.event.STOP', 'qmpmux.vm1.event.RESUME', 'qmpmux.vm1.event.STOP', 'qmpmux.vm1.event.RESUME'],
    );
    // Byte for byte what a local client read (QEMU's line, its line end included).
    assert.deepEqual(
      msgs.map((x) => x.data.toString('latin1')),
      seen.map((raw) => raw + '\r\n'),
    );
    const epoch = msgs[0]!.headers['Qmpmux-Epoch']!;
    assert.match(epoch, /^\d{13}$/);
    msgs.forEach((x, i) => {
      const seq = String(i + 1);
      assert.deepEqual(x.headers, { 'Nats-Msg-Id': `vm1.${epoch}.${seq}`, 'Qmpmux-Seq': seq, 'Qmpmux-Epoch': epoch, 'Qmpmux-Host': hostname() });
    });
    const info = await (await jetstreamManager(nc)).streams.info('QMPMUX_EVENTS');
    assert.deepEqual(info.config.subjects, ['qmpmux.*.event.>', 'qmpmux.*.gap']);
    assert.equal(info.config.storage, StorageType.File);
    assert.equal(info.config.max_age, 7 * 24 * 3600 * 1e9);
    assert.equal(info.config.max_bytes, 1024 ** 3);
    assert.equal(info.config.duplicate_window, 120 * 1e9);
  });

  it('creates the stream with the configured retention and subject prefix', async () => {
    m = await startMux({ servers: [nats.url], subjectPrefix: 'lab.qmp', eventsStream: 'LAB_EVENTS', eventsRetention: { maxAgeMs: 3_600_000, maxBytes: 1_000_000, maxMsgs: 5000 }, duplicateWindowMs: 30_000 }, { vm: 'web-1' });
    await togglePairs(m.mux.unix, 1);
    await until(async () => (await streamCount(nc, 'LAB_EVENTS')) === 2, '2 events');
    const info = await (await jetstreamManager(nc)).streams.info('LAB_EVENTS');
    assert.deepEqual(info.config.subjects, ['lab.qmp.*.event.>', 'lab.qmp.*.gap']);
    assert.equal(info.config.max_age, 3600 * 1e9);
    assert.equal(info.config.max_bytes, 1_000_000);
    assert.equal(info.config.max_msgs, 5000);
    assert.equal(info.config.duplicate_window, 30 * 1e9);
    assert.deepEqual((await readStream(nc, 'LAB_EVENTS')).map((x) => x.subject), ['lab.qmp.web-1.event.STOP', 'lab.qmp.web-1.event.RESUME']);
  });

  it('uses an existing stream with other settings as it is, warning about each difference; never changes it', async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'OTHER_EVENTS', subjects: ['alt.>'], max_msgs: 100, storage: StorageType.Memory });
    m = await startMux({ servers: [nats.url], eventsStream: 'OTHER_EVENTS', subjectPrefix: 'alt' });
    await togglePairs(m.mux.unix, 1);
    await until(async () => (await streamCount(nc, 'OTHER_EVENTS')) === 2, '2 events in the existing stream');
    const warn = m.lines.find((l) => l.level === 'warn' && /OTHER_EVENTS exists with other settings; it is used as it is/.test(l.msg));
    assert.ok(warn, 'a warning');
    assert.match(warn.msg, /max_msgs 100 \(configured: -1\)/);
    assert.match(warn.msg, /storage memory \(configured: file\)/);
    const info = await jsm.streams.info('OTHER_EVENTS');
    assert.deepEqual(info.config.subjects, ['alt.>']);
    assert.equal(info.config.max_msgs, 100);
  });

  it("logs an error when an existing stream does not capture the events' subjects", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'WRONG_EVENTS', subjects: ['elsewhere.>'] });
    m = await startMux({ servers: [nats.url], eventsStream: 'WRONG_EVENTS' });
    await until(() => m!.lines.some((l) => l.level === 'error' && /WRONG_EVENTS exists but does not capture qmpmux\.\*\.event\.>, qmpmux\.\*\.gap/.test(l.msg)), 'the error');
  });

  it('refuses a VM name with a dot at start-up, naming it', async () => {
    await assert.rejects(startMux({ servers: [nats.url] }, { vm: 'a.b' }), (e) => e instanceof ConfigError && e.path === 'name' && /the VM name 'a\.b' contains '\.'/.test(e.message));
  });
});
