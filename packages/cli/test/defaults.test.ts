/**
 * Safe defaults of `qmpmux serve` as a new user runs it, against a real QEMU: without a config (or with
 * one that names no plugins) fdsets and clients are loaded — each client's getfd names and fd-set fds
 * are its own and closed in QEMU when it leaves; `"plugins": []` means none; unix sockets are 0600
 * even under umask 000 unless unixMode says otherwise; a listener on a non-loopback address without
 * authentication is refused at start-up with exit 2 and a message.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QmpClient } from '@qmpmux/client';
import { startQemu, until, type TestQemu } from '@qmpmux/e2e';

const BIN = resolve(fileURLToPath(import.meta.url), '../../bin/qmpmux.mjs');

/** The files a process holds open (readlink of /proc/PID/fd/*). */
function openFiles(pid: number): string[] {
  const out: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.push(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

describe('qmpmux serve with the default configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qmpmux-defaults-'));
  let qemu: TestQemu | undefined;
  const running: ChildProcess[] = [];
  after(async () => {
    for (const p of running) p.kill('SIGKILL');
    await qemu?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** `qmpmux serve ARGS` under umask 000, until it listens on `sock`. */
  async function serve(sock: string, ...args: string[]): Promise<ChildProcess> {
    const p = spawn('/bin/sh', ['-c', 'umask 000 && exec "$@"', 'sh', process.execPath, BIN, 'serve', '--upstream', qemu!.address, '--listen', `unix:${sock}`, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, QMPMUX_WARMUP: '0' },
    });
    running.push(p);
    let log = '';
    p.stderr!.on('data', (d) => (log += d));
    await until(() => log.includes('listening on'), () => `start-up; log: ${log}`);
    assert.match(readFileSync(`/proc/${p.pid}/status`, 'utf8'), /^Umask:\s+0000$/m, 'serve runs under umask 000');
    return p;
  }

  /** Stop a serve (its clients are gone) so the next one can own QEMU's monitor. */
  async function stop(p: ChildProcess): Promise<void> {
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
  }

  /** A file of our own, opened for passing: QEMU's /proc/PID/fd shows whether it holds it. */
  const file = (name: string) => {
    const path = join(dir, name);
    writeFileSync(path, name);
    return { path, fd: () => openSync(path, 'r') };
  };

  it('without a config: fdsets and clients are loaded; names and fd sets are per client, closed when it leaves; the socket is 0600 under umask 000', async () => {
    qemu = await startQemu();
    const sock = join(dir, 'mux.sock');
    const p = await serve(sock);
    assert.equal(statSync(sock).mode & 0o777, 0o600);
    const a = await QmpClient.connect(`unix:${sock}`);
    const b = await QmpClient.connect(`unix:${sock}`);
    const [fa, fb, fc] = [file('fd-of-a'), file('fd-of-b'), file('fdset-of-a')];
    const held = () => openFiles(qemu!.pid);
    try {
      assert.equal((await a.execute<{ id: number }[]>('__org.qmpmux_query-clients' as never)).length, 2, 'the clients plugin answers');
      await a.execute('getfd', { fdname: 'x' }, { fds: [fa.fd()] });
      // B never gave 'x': with fdsets its names are its own, so QEMU does not find it for B.
      await assert.rejects(b.execute('closefd', { fdname: 'x' }), /File descriptor named 'x' not found/);
      // B's getfd of the same name leaves A's fd alone.
      await b.execute('getfd', { fdname: 'x' }, { fds: [fb.fd()] });
      assert.ok(held().includes(fa.path) && held().includes(fb.path), "QEMU holds A's and B's 'x'");
      await a.execute('add-fd', { 'fdset-id': 7 }, { fds: [fc.fd()] });
      assert.ok(held().includes(fc.path));

      a.close(); // leaves without closefd or remove-fd
      await until(() => !held().includes(fa.path) && !held().includes(fc.path), "QEMU to close the leaving client's fds");
      assert.ok(held().includes(fb.path), "B's fd stays");
      const sets = await b.execute<{ 'fdset-id': number }[]>('query-fdsets');
      assert.equal(sets.filter((s) => s['fdset-id'] === 7).length, 0, "A's fd set is gone");
      await b.execute('closefd', { fdname: 'x' });
      assert.ok(!held().includes(fb.path));
    } finally {
      a.close();
      b.close();
    }
    await stop(p);
  });

  it('with a config that names no plugins: the same defaults; with "plugins": [] none, and unixMode is honoured under umask 000', async () => {
    const none = join(dir, 'none.json');
    writeFileSync(none, JSON.stringify({ plugins: [], unixMode: '0660' }));
    const noKey = join(dir, 'no-key.json');
    writeFileSync(noKey, JSON.stringify({ log: 'info' }));

    const sock1 = join(dir, 'no-key.sock');
    const p1 = await serve(sock1, '--config', noKey);
    assert.equal(statSync(sock1).mode & 0o777, 0o600);
    const c = await QmpClient.connect(`unix:${sock1}`);
    assert.equal((await c.execute<unknown[]>('__org.qmpmux_query-clients' as never)).length, 1, 'clients loaded');
    c.close();
    await stop(p1);

    const sock2 = join(dir, 'none.sock');
    const p2 = await serve(sock2, '--config', none);
    assert.equal(statSync(sock2).mode & 0o777, 0o660);
    const a = await QmpClient.connect(`unix:${sock2}`);
    const b = await QmpClient.connect(`unix:${sock2}`);
    const [fa, fb] = [file('plain-a'), file('plain-b')];
    try {
      await assert.rejects(a.execute('__org.qmpmux_query-clients' as never), /The command __org\.qmpmux_query-clients has not been found/);
      // No fdsets: one monitor, one namespace — B's getfd replaces (and QEMU closes) A's, as QEMU does.
      await a.execute('getfd', { fdname: 'x' }, { fds: [fa.fd()] });
      await b.execute('getfd', { fdname: 'x' }, { fds: [fb.fd()] });
      const held = openFiles(qemu!.pid);
      assert.ok(!held.includes(fa.path) && held.includes(fb.path));
      await a.execute('closefd', { fdname: 'x' });
    } finally {
      a.close();
      b.close();
    }
    await stop(p2);
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
