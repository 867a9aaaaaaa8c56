/**
 * kill -9 of a qmpmux process (`qmpmux serve`, a child process) during a burst of audited HMP commands:
 * `qmpmux audit verify` passes and every command whose reply a client received is in the log, with
 * its reply record. Then qmpmux starts again on the same log and continues the chain.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClient } from '@qmpmux/client';
import { runQmpmux, spawnQmpmux, useQemu, useTempDir, type QmpmuxProcess } from '@qmpmux/e2e';
import type { AuditRecord } from '@qmpmux/audit-log';
import { records } from './helpers.ts';

const tmp = useTempDir('hmp-audit-');
const qemu = useQemu();

/** `qmpmux serve` with this config in front of the test's QEMU, once a client gets through. */
async function serve(dir: string, config: string): Promise<{ proc: QmpmuxProcess; address: string }> {
  const address = `unix:${join(dir, `q-${Date.now()}.sock`)}`;
  const connects = () =>
    QmpClient.connect(address).then(
      (c) => (c.close(), true),
      () => false, // not yet
    );
  const proc = await spawnQmpmux(['serve', '--upstream', qemu.address, '--listen', address, '--config', config, '--log', 'warn'], { log: 'inherit', ready: connects });
  return { proc, address };
}

const logFiles = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('audit.log') && !f.endsWith('.lock')).map((f) => join(dir, f));

for (const fsync of ['always', 'batch'] as const) {
  describe(`kill -9 during a burst (fsync ${fsync})`, () => {
    it('leaves a log that verifies and holds every command a client got a reply to', async () => {
      const dir = join(tmp, fsync);
      const logDir = join(dir, 'log');
      const config = join(tmp, `${fsync}.json`);
      // Small segments: the burst rotates a few times, so the crash can land near a rotation too.
      writeFileSync(config, JSON.stringify({ plugins: [{ name: 'hmp-audit', options: { path: join(logDir, 'audit.log'), fsync, rotate: { maxBytes: 64 * 1024 } } }] }));
      const { mkdirSync } = await import('node:fs');
      mkdirSync(dir, { recursive: true });
      const srv = await serve(dir, config);

      const received = new Set<string>();
      let sent = 0;
      const clients = await Promise.all(Array.from({ length: 6 }, () => QmpClient.connect(srv.address)));
      const loops = clients.map(async (c, ci) => {
        for (let i = 0; ; i++) {
          const line = i % 5 === 4 ? `info   status  ` : `p ${ci * 1_000_000 + i}`;
          const tagged = i % 5 === 4 ? `${line}#${ci}-${i}` : line;
          sent++;
          try {
            const text = await c.execute<string>('human-monitor-command', { 'command-line': line });
            if (i % 5 === 4) assert.equal(text, 'VM status: running\r\n');
            else assert.equal(text, `0x${(ci * 1_000_000 + i).toString(16)}\r\n`);
            received.add(tagged);
          } catch {
            return; // the connection died with qmpmux
          }
        }
      });
      while (received.size < 600) await sleep(5);
      await srv.proc.stop('SIGKILL');
      await Promise.all(loops);
      assert.ok(sent > received.size, 'commands were in flight when qmpmux died');

      const files = logFiles(logDir);
      const verify = await runQmpmux(['audit', 'verify', ...files]);
      assert.equal(verify.code, 0, verify.out + verify.err);
      assert.match(verify.out, /^ok: \d+ record\(s\)/);

      const all: AuditRecord[] = files.flatMap(records);
      const cmds = all.filter((r) => r.type === 'command');
      const replied = new Set(all.filter((r) => r.type === 'reply').map((r) => r.ref as number));
      const line = (r: AuditRecord) => (r.hmp as { line: string }).line;
      const prints = [...received].filter((l) => l.startsWith('p '));
      // Every command a client got a reply to has its command record...
      const logged = new Set(cmds.map(line));
      assert.deepEqual(prints.filter((l) => !logged.has(l)), [], 'replies received for commands not in the log');
      const statusReceived = received.size - prints.length;
      const statusLogged = cmds.filter((r) => (r.hmp as { name: string }).name === 'info status').length;
      assert.ok(statusLogged >= statusReceived, `info status: ${statusLogged} logged, ${statusReceived} received`);
      // ...and its reply record: with fsync "always" always (written before the reply left); with
      // "batch" the reply leaves first, so at most one per client (the one in flight) may be missing.
      const withReply = new Set(cmds.filter((r) => replied.has(r.seq)).map(line));
      const noReply = prints.filter((l) => !withReply.has(l));
      if (fsync === 'always') assert.deepEqual(noReply, [], 'replies received whose reply record is missing');
      else assert.ok(noReply.length <= clients.length, `${noReply.length} reply records missing`);
      assert.ok(files.length > 1, 'the burst rotated the log');

      // qmpmux again on the same log: the chain goes on across the crash.
      const again = await serve(dir, config);
      const c = await QmpClient.connect(again.address);
      assert.equal(await c.execute('human-monitor-command', { 'command-line': 'info status' }), 'VM status: running\r\n');
      c.close();
      await again.proc.stop('SIGTERM');
      const files2 = logFiles(logDir);
      const verify2 = await runQmpmux(['audit', 'verify', ...files2]);
      assert.equal(verify2.code, 0, verify2.out + verify2.err);
      const after = files2.flatMap(records);
      const starts = after.filter((r) => r.type === 'start');
      assert.equal(starts.length, 2, 'one start record per qmpmux run');
      assert.equal(after.filter((r) => r.type === 'stop').length, 1, 'only the clean stop wrote a stop record');
    });
  });
}
