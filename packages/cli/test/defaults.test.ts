/**
 * Safe defaults of `qmpmux serve` with no config, as a new user runs it, against a real QEMU: fdsets and
 * clients are loaded (each client's getfd names are its own), the unix socket is 0600, and a listener
 * on a non-loopback address without authentication is refused at start-up with exit 2 and a message.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClient } from '@qmpmux/client';
import { startQemu, type TestQemu } from '@qmpmux/e2e';

const BIN = resolve(fileURLToPath(import.meta.url), '../../bin/qmpmux.mjs');

describe('qmpmux serve without a config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qmpmux-defaults-'));
  let qemu: TestQemu | undefined;
  let serve: ChildProcess | undefined;
  after(async () => {
    serve?.kill('SIGKILL');
    await qemu?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads fdsets and clients, and creates its unix socket 0600', async () => {
    qemu = await startQemu();
    const sock = join(dir, 'mux.sock');
    serve = spawn(process.execPath, [BIN, 'serve', '--upstream', qemu.address, '--listen', `unix:${sock}`], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, QMPMUX_WARMUP: '0' } });
    let log = '';
    serve.stderr!.on('data', (d) => (log += d));
    const deadline = Date.now() + 15_000;
    while (!log.includes('listening on')) {
      assert.ok(Date.now() < deadline, `startup; log: ${log}`);
      await sleep(20);
    }
    assert.equal(statSync(sock).mode & 0o777, 0o600);
    const a = await QmpClient.connect(`unix:${sock}`);
    const b = await QmpClient.connect(`unix:${sock}`);
    try {
      assert.equal((await a.execute<{ id: number }[]>('__org.qmpmux_query-clients' as never)).length, 2, 'the clients plugin answers');
      // The client owns the fd once passed (it closes its copy after sending).
      await a.execute('getfd', { fdname: 'x' }, { fds: [openSync('/dev/null', 'r')] });
      // B never gave 'x': with fdsets its names are its own, so QEMU does not find it for B.
      await assert.rejects(b.execute('closefd', { fdname: 'x' }), /File descriptor named 'x' not found/);
      await a.execute('closefd', { fdname: 'x' });
    } finally {
      a.close();
      b.close();
    }
  });

  it('refuses tcp:0.0.0.0 without authentication: exit 2, one line naming the listener', async () => {
    const p = spawn(process.execPath, [BIN, 'serve', '--upstream', 'unix:/nonexistent.sock', '--listen', 'tcp:0.0.0.0:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((res) => p.on('exit', res));
    assert.equal(code, 2, err);
    assert.match(err, /tcp:0\.0\.0\.0:0 is on a non-loopback address and clients need not authenticate there/);
    assert.doesNotMatch(err, /    at /);
  });
});
