/**
 * `npx qmpmux serve &` then `kill $!` stops qmpmux and its managed QEMU: $! is npm's pid, and npm does
 * not pass signals on, so qmpmux watches its npm launcher (launcher.ts). Real npx, real QEMU.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('npx qmpmux serve', () => {
  it('stops, with its QEMU, when the npm process the user started is killed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qmpmux-npx-'));
    try {
      const npx = spawn('npx', ['qmpmux', 'serve', '--listen', `unix:${join(dir, 's.sock')}`], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, QMPMUX_WARMUP: '0' } });
      let log = '';
      npx.stderr!.on('data', (d) => (log += d));
      const closed = new Promise<void>((res) => npx.stderr!.on('close', () => res()));
      const deadline = Date.now() + 30_000;
      while (!/listening on/.test(log) || !/watchdog pid (\d+)/.test(log)) {
        assert.ok(Date.now() < deadline, `startup; log: ${log}`);
        await sleep(50);
      }
      const watchdog = Number(/watchdog pid (\d+)/.exec(log)![1]);
      assert.ok(alive(watchdog));
      npx.kill('SIGTERM'); // what `kill $!` does: npm only
      // Every holder of the stderr pipe (npm, sh, node, QEMU's watchdog) has exited when it closes.
      await Promise.race([closed, sleep(15_000).then(() => assert.fail(`still running after kill; log: ${log}`))]);
      assert.match(log, /npm \(pid \d+\) exited: shutting down/);
      assert.match(log, /stopped/);
      assert.equal(alive(watchdog), false, 'the managed QEMU is gone');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
