/**
 * Safe defaults of `qmpmux serve` with no config, as a new user runs it, against a real QEMU: fdsets and
 * clients are loaded (each client's getfd names are its own), the unix socket is 0600, and a listener
 * on a non-loopback address without authentication is refused at start-up with exit 2 and a message.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient } from '@qmpmux/client';
import { runQmpmux, spawnQmpmux, startQemu, type QmpmuxProcess, type TestQemu } from '@qmpmux/e2e';

describe('qmpmux serve without a config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qmpmux-defaults-'));
  let qemu: TestQemu | undefined;
  let serve: QmpmuxProcess | undefined;
  after(async () => {
    await serve?.stop('SIGKILL');
    await qemu?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads fdsets and clients, and creates its unix socket 0600', async () => {
    qemu = await startQemu();
    const sock = join(dir, 'mux.sock');
    serve = await spawnQmpmux(['serve', '--upstream', qemu.address, '--listen', `unix:${sock}`], { ready: /listening on/, env: { QMPMUX_WARMUP: '0' } });
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
    const { code, err } = await runQmpmux(['serve', '--upstream', 'unix:/nonexistent.sock', '--listen', 'tcp:0.0.0.0:0']);
    assert.equal(code, 2, err);
    assert.match(err, /tcp:0\.0\.0\.0:0 is on a non-loopback address and clients need not authenticate there/);
    assert.doesNotMatch(err, /    at /);
  });
});
