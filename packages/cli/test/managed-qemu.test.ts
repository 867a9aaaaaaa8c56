/**
 * The managed QEMU (qemu.ts) stopped at any moment of its start: no QEMU is left behind, and what QEMU
 * wrote on stderr is logged before stop() returns (so a failing start's last line stays qmpmux's).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger, type Logger } from '@qmpmux/core';
import { processesWith, until } from '@qmpmux/e2e';
import { DEFAULT_QEMU_ARGS, DEFAULT_QEMU_BINARY, ManagedQemu } from '../src/qemu.ts';

/** A logger that keeps what was logged (each line as `level message`). */
function keptLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger('t', 'debug', (level, _tag, msg) => void lines.push(`${level} ${msg}`)), lines };
}

describe('managed QEMU', () => {
  it('stopped right after it was started, at many moments of its start: no QEMU left behind', async () => {
    const sockets: string[] = [];
    for (let i = 0; i < 40; i++) {
      const q = new ManagedQemu(DEFAULT_QEMU_BINARY, DEFAULT_QEMU_ARGS, keptLog().log);
      q.start();
      await sleep(i % 10); // 0..9 ms: the watchdog's shell, QEMU's exec, its socket
      await q.stop();
      sockets.push(q.socket);
    }
    // Every QEMU has been told to go; a busy machine may take its time over it, never forever.
    const left = () => sockets.filter((s) => processesWith(s).length > 0);
    await until(() => left().length === 0, () => `QEMUs gone; still running: ${left().join(' ')}`, 60_000);
  });

  it('what QEMU says on stderr is logged before stop() returns, never after', async () => {
    // An option QEMU refuses at once: it writes its error and exits, at some moment around the stop.
    for (let i = 0; i < 10; i++) {
      const { log, lines } = keptLog();
      const q = new ManagedQemu(DEFAULT_QEMU_BINARY, [...DEFAULT_QEMU_ARGS, '-no-such-option'], log);
      q.start();
      await sleep(i * 5);
      await q.stop();
      const n = lines.length;
      await sleep(100);
      assert.deepEqual(lines.slice(n), [], `logged after stop() (${i * 5} ms after the start)`);
    }
  });
});
