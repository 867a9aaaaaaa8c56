/** The shell's history file (history.ts): shared by sessions, bounded, private. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HistoryFile, HISTORY_MAX } from '../src/history.ts';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'qmpmux-history-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('shell history file', () => {
  it('keeps entered lines, oldest first in the file, newest first for readline; created 0600', () => {
    withDir((dir) => {
      const h = new HistoryFile(join(dir, 'h'));
      assert.deepEqual(h.load(), []);
      h.add('query-status');
      h.add('stop');
      assert.equal(readFileSync(join(dir, 'h'), 'utf8'), 'query-status\nstop\n');
      assert.equal(statSync(join(dir, 'h')).mode & 0o777, 0o600);
      assert.deepEqual(new HistoryFile(join(dir, 'h')).load(), ['stop', 'query-status']);
    });
  });

  it('leaves out blank lines, a repeat of the line before, and lines typed with a leading space', () => {
    withDir((dir) => {
      const h = new HistoryFile(join(dir, 'h'));
      for (const l of ['cont', 'cont', '   ', '', ' object-add qom-type=secret id=s0 data=letmein', 'stop']) h.add(l);
      assert.equal(readFileSync(join(dir, 'h'), 'utf8'), 'cont\nstop\n');
    });
  });

  it('two sessions append to one file without losing each other’s lines', () => {
    withDir((dir) => {
      const a = new HistoryFile(join(dir, 'h'));
      const b = new HistoryFile(join(dir, 'h'));
      a.load();
      b.load();
      a.add('query-name');
      b.add('query-version');
      a.add('stop');
      assert.deepEqual(new HistoryFile(join(dir, 'h')).load(), ['stop', 'query-version', 'query-name']);
    });
  });

  it(`is bounded: the newest ${HISTORY_MAX} lines are kept`, () => {
    withDir((dir) => {
      const file = join(dir, 'h');
      writeFileSync(file, Array.from({ length: HISTORY_MAX + 500 }, (_, i) => `x${i}\n`).join(''));
      const h = new HistoryFile(file);
      const loaded = h.load();
      assert.equal(loaded.length, HISTORY_MAX);
      assert.equal(loaded[0], `x${HISTORY_MAX + 499}`);
      assert.equal(readFileSync(file, 'utf8').split('\n').length - 1, HISTORY_MAX, 'the file is cut back on load');
      for (let i = 0; i < 10; i++) h.add(`y${i}`);
      const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
      assert.equal(lines.length, HISTORY_MAX, 'and after each line added');
      assert.equal(lines[lines.length - 1], 'y9');
      assert.equal(lines[0], 'x510');
    });
  });

  it('an unwritable history file does not stop the shell', () => {
    withDir((dir) => {
      const h = new HistoryFile(join(dir, 'missing-dir', 'h'));
      assert.deepEqual(h.load(), []);
      assert.doesNotThrow(() => h.add('query-status'));
    });
  });
});
