/**
 * kill -9 of qmpmux (`qmpmux serve` with hmp-audit and the nats plugin's audit shipping, a child
 * process) in the middle of HMP traffic, several times, each followed by a restart on the same log:
 * the stream ends up holding every record of the log once, in order — no repeat (the stream's
 * duplicate window is made as short as it can be, and restarts wait past it), no gap. Real QEMU, real nats-server.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { spawnQmpmux, startNats, useQemu, useTempDir, type QmpmuxProcess, type TestNats } from '@qmpmux/e2e';
import { countOnSubject, localRecords, sameAsLog, streamMessages, traffic } from './audit-helpers.ts';
import { natsClient, until } from './helpers.ts';

const SUBJECT = 'qmpmux.vm1.audit';
const tmp = useTempDir('qmpmux-nats-audit-');
const qemu = useQemu();
let nats: TestNats;
let nc: NatsConnection;
let serve: QmpmuxProcess | undefined;
const sock = join(tmp, 'vm1.sock');
const logPath = join(tmp, 'log', 'audit.log');
const config = join(tmp, 'qmpmux.json');

async function launch(): Promise<void> {
  serve = await spawnQmpmux(['serve', '--config', config], { ready: (log) => existsSync(sock) && /connected to NATS/.test(log), env: { QMPMUX_WARMUP: '0' } });
}

async function kill(signal: NodeJS.Signals): Promise<void> {
  await serve!.stop(signal);
  serve = undefined;
}

before(async () => {
  nats = await startNats();
  nc = await natsClient(nats.url);
  writeFileSync(
    config,
    JSON.stringify({
      name: 'vm1',
      upstream: qemu.address,
      listen: [`unix:${sock}`],
      plugins: [
        { name: 'hmp-audit', options: { path: logPath, fsync: 'batch', rotate: { maxBytes: 256 * 1024 } } },
        // The shortest duplicate window (1 s), and restarts later than that: a record shipped twice
        // would not be hidden by it; only the resume point can avoid one.
        { name: 'nats', options: { servers: [nats.url], duplicateWindowMs: 1000, audit: { path: logPath } } },
      ],
    }),
  );
});
after(async () => {
  if (serve) await kill('SIGKILL');
  await nc?.close();
  await nats?.stop();
});

describe('kill -9 of qmpmux while it ships the audit log', () => {
  it('goes on after a restart from the stream’s last record: every record once, in order', async () => {
    let behindAtAKill = false;
    for (const mark of [400, 1500, 3000]) {
      await launch();
      const load = traffic(`unix:${sock}`, { untilClosed: true });
      await until(async () => (await countOnSubject(nc, 'QMPMUX_AUDIT', SUBJECT)) >= mark, `${mark} records in the stream`, 60_000);
      await kill('SIGKILL');
      await load.stop();
      if ((await countOnSubject(nc, 'QMPMUX_AUDIT', SUBJECT)) < localRecords(logPath).length) behindAtAKill = true;
      await sleep(1100); // past the duplicate window
    }
    assert.ok(behindAtAKill, 'at least one kill left records in the log that were not in the stream yet');
    // A last run catches up; its clean stop writes a `stop` record after the shipper has stopped
    // (it goes out at the next start).
    await launch();
    await until(async () => (await countOnSubject(nc, 'QMPMUX_AUDIT', SUBJECT)) === localRecords(logPath).length, 'the stream caught up with the log', 60_000);
    await kill('SIGTERM');
    const local = localRecords(logPath);
    assert.equal(local.at(-1)!.type, 'stop');
    const problem = sameAsLog(await streamMessages(nc, 'QMPMUX_AUDIT', SUBJECT), logPath, hostname(), 1);
    assert.equal(problem, undefined, problem);
    assert.equal(local.filter((r) => r.type === 'start').length, 4, 'four qmpmux runs');
  });
});
