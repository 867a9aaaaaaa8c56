/**
 * Against the real QEMU: pass a pipe fd to QMP's add-fd in the same write as the command.
 * Skipped when qemu-system-x86_64 is not installed, unless QMPMUX_REQUIRE_QEMU=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { accessSync, constants, readlinkSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { UnixSocket, closeFd, openFdCount, pipe } from '../src/index.ts';
import { delay, tmpDir } from './helpers.ts';

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

const qemuBin = findOnPath('qemu-system-x86_64');
const required = process.env.QMPMUX_REQUIRE_QEMU === '1';

/** Line-oriented QMP reader on a UnixSocket: yields replies, skips asynchronous events. */
function qmpReader(sock: UnixSocket) {
  let buffered = '';
  const messages: Record<string, unknown>[] = [];
  const waiters: ((m: Record<string, unknown>) => void)[] = [];
  sock.on('data', (chunk, fds) => {
    for (const fd of fds) closeFd(fd); // QEMU sends none; never leak
    buffered += chunk.toString('utf8');
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line === '') continue;
      const msg = JSON.parse(line) as Record<string, unknown>;
      if ('event' in msg) continue;
      const w = waiters.shift();
      if (w) w(msg);
      else messages.push(msg);
    }
  });
  return (): Promise<Record<string, unknown>> => {
    const m = messages.shift();
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no QMP reply within 5 s')), 5000);
      waiters.push((msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
    });
  };
}

test('QEMU 7.2 add-fd accepts a pipe fd sent with the command', { skip: !qemuBin && !required ? 'qemu-system-x86_64 not installed' : false, timeout: 15_000 }, async (t) => {
  assert.ok(qemuBin, 'qemu-system-x86_64 not found on PATH (QMPMUX_REQUIRE_QEMU=1)');
  const tmp = tmpDir();
  const sockPath = join(tmp.dir, 'qmp.sock');
  const qemu = spawn(qemuBin, ['-M', 'none', '-display', 'none', '-nodefaults', '-qmp', `unix:${sockPath},server=on,wait=off`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  qemu.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => qemu.once('exit', () => resolve()));
  // Kill QEMU whatever happens, even if the test times out before its finally block runs.
  const kill = () => qemu.kill('SIGKILL');
  process.once('exit', kill);
  t.after(kill);
  let sock: UnixSocket | undefined;
  try {
    // Wait for QEMU to create its socket.
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        sock = await UnixSocket.connect(sockPath);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (qemu.exitCode !== null) assert.fail(`QEMU exited (${qemu.exitCode}): ${stderr}`);
        if ((code !== 'ENOENT' && code !== 'ECONNREFUSED') || Date.now() > deadline) throw err;
        await delay(20);
      }
    }
    assert.equal(sock.peer.pid, qemu.pid, 'SO_PEERCRED names the QEMU process');
    const next = qmpReader(sock);
    sock.resume();

    const greeting = await next();
    assert.ok('QMP' in greeting, `greeting: ${JSON.stringify(greeting)}`);
    sock.write(Buffer.from('{"execute":"qmp_capabilities"}\r\n'));
    assert.deepEqual(await next(), { return: {} });

    const [r, w] = pipe();
    const ourPipe = readlinkSync(`/proc/self/fd/${r}`); // "pipe:[inode]"
    const qemuFdsBefore = openFdCount(qemu.pid!);
    sock.write(Buffer.from('{"execute":"add-fd","arguments":{"fdset-id":3}}\r\n'), [w]);
    const added = (await next()) as { return?: { fd: number; 'fdset-id': number } };
    assert.equal(added.return?.['fdset-id'], 3, JSON.stringify(added));
    const qemuFd = added.return!.fd;
    assert.ok(Number.isInteger(qemuFd) && qemuFd >= 0);
    assert.equal(openFdCount(qemu.pid!), qemuFdsBefore + 1);
    assert.equal(readlinkSync(`/proc/${qemu.pid}/fd/${qemuFd}`), ourPipe, 'QEMU holds our very pipe');

    sock.write(Buffer.from('{"execute":"query-fdsets"}\r\n'));
    const sets = (await next()) as { return: { 'fdset-id': number; fds: { fd: number }[] }[] };
    const set3 = sets.return.find((s) => s['fdset-id'] === 3);
    assert.ok(set3, JSON.stringify(sets));
    assert.deepEqual(
      set3.fds.map((f) => f.fd),
      [qemuFd],
    );
    closeFd(r);
  } finally {
    sock?.destroy();
    kill();
    await exited;
    process.off('exit', kill);
    tmp.cleanup();
  }
});
