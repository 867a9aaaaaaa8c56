/** Every command has --help (exit 0); user errors are one line naming the problem, exit 2, no stack trace. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMMANDS } from '../src/main.ts';

const BIN = resolve(fileURLToPath(import.meta.url), '../../bin/qmpmux.mjs');
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000, input: '' });

describe('qmpmux usage and errors', () => {
  it('--help of qmpmux and of every command: exit 0, a usage text', () => {
    for (const args of [['--help'], ...Object.keys(COMMANDS).map((c) => [c, '--help'])]) {
      const r = run(...args);
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /usage: qmpmux/, args.join(' '));
    }
  });

  it('bad flags, addresses and configs: one line, exit 2, never a stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qmpmux-usage-'));
    try {
      const bad = join(dir, 'bad.json');
      writeFileSync(bad, '{"listen": 5}');
      const cases: string[][] = [
        ['frobnicate'],
        ['shell', '--bogus'],
        ['shell', 'not-an-address'],
        ['events', 'unix:/x', '--count', 'many'],
        ['clients'],
        ['serve', '--config', join(dir, 'missing.json')],
        ['serve', '--check-config', bad],
        ['serve', '--log', 'loud'],
      ];
      for (const args of cases) {
        const r = run(...args);
        assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}, stderr ${r.stderr}`);
        assert.doesNotMatch(r.stderr, /    at /, `${args.join(' ')}: no stack trace`);
        assert.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line, got ${r.stderr}`);
      }
      const cfg = run('serve', '--check-config', bad);
      assert.match(cfg.stderr, /config\.listen/, 'the bad field is named by its path');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serve --check-config prints the effective config with defaults, exit 0', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qmpmux-usage-'));
    try {
      const ok = join(dir, 'ok.json');
      writeFileSync(ok, '{"upstream": "unix:/run/q.qmp"}');
      const r = run('serve', '--check-config', ok);
      assert.equal(r.status, 0, r.stderr);
      const eff = JSON.parse(r.stdout);
      // The defaults, in placement order.
      assert.deepEqual(eff.plugins.map((p: { name: string }) => p.name), ['clients', 'fdsets']);
      assert.equal(eff.unixMode, '0600');
      assert.equal(eff.allowUnauthenticated, false);
      assert.equal(typeof eff.limits.maxClients, 'number');
      assert.equal(eff.limits.maxTotalClientOutputBytes, 256 * 1024 * 1024);
      const none = join(dir, 'none.json');
      writeFileSync(none, '{"upstream": "unix:/run/q.qmp", "plugins": []}');
      assert.deepEqual(JSON.parse(run('serve', '--check-config', none).stdout).plugins, [], '"plugins": [] means none');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
