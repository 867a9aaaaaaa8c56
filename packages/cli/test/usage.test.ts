/** Every command has --help (exit 0); user errors are one line naming the problem, exit 2, no stack trace. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QMPMUX_BIN } from '@qmpmux/e2e';
import { COMMANDS } from '../src/main.ts';

// Many short runs, one after another: spawnSync keeps these tests plain.
const run = (...args: string[]) => spawnSync(process.execPath, [QMPMUX_BIN, ...args], { encoding: 'utf8', timeout: 20_000, input: '' });

describe('qmpmux usage and errors', () => {
  it('--help of qmpmux and of every command: exit 0, a usage text', () => {
    const each = Object.keys(COMMANDS).flatMap((c) => [[c, '--help'], [c, '-h'], ['help', c]]);
    const subcommands = ['verify', 'show', 'convert'].map((s) => ['audit', s, '--help']);
    for (const args of [['--help'], ['-h'], ['help'], ...each, ...subcommands, ['shell', '-H', '--help'], ['events', 'unix:/x', '--help'], ['fleet', 'ls', '--help'], ['fleet', 'events', '--help'], ['fleet', 'exec', '--help']]) {
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
      const badUpstream = join(dir, 'bad-upstream.json');
      writeFileSync(badUpstream, '{"upstream": "qemu.sock"}');
      const badHttp = join(dir, 'bad-http.json');
      writeFileSync(badHttp, '{"http": "9100"}');
      const cases: string[][] = [
        ['frobnicate'],
        ['shell', '--bogus'],
        ['shell', 'not-an-address'],
        ['events', 'unix:/x', '--count', 'many'],
        ['clients'],
        ['serve', '--config', join(dir, 'missing.json')],
        ['serve', '--check-config', bad],
        ['serve', '--log', 'loud'],
        ['serve', '--check-config', join(dir, 'missing.json')],
        ['serve', '--listen', 'foo'],
        ['serve', '--upstream', 'foo'],
        ['serve', '--upstream', 'ws://127.0.0.1:1/q'],
        ['serve', '--http', 'nope'],
        ['serve', '--qemu-binary', join(dir, 'no-qemu')],
        ['serve', '--qemu-binary', 'no-such-qemu-binary'],
        ['serve', '--check-config', badUpstream],
        ['serve', '--check-config', badHttp],
        ['serve', 'extra'],
        ['shell'],
        ['shell', '-x', 'unix:/x'],
        ['shell', '-l'],
        ['shell', '-l', join(dir, 'no-such-dir', 'log'), 'unix:/x'],
        ['shell', 'unix:/x', 'extra'],
        ['shell', 'tcp:host:99999'],
        ['events'],
        ['events', '--regex', 'unix:/x'],
        ['events', '--event', '(', '--regex', 'unix:/x'],
        ['events', '--timeout', 'soon', 'unix:/x'],
        ['events', '--pretty=yes', 'unix:/x'],
        ['clients', '--jsn', 'unix:/x'],
        ['clients', 'ws://'],
        ['audit', 'frobnicate'],
        ['fleet'],
        ['fleet', 'nope'],
        ['fleet', 'events', '--bogus'],
        ['fleet', 'events', '--since', 'yesterday'],
        ['fleet', 'exec', '--vm', 'vm1'],
        ['fleet', 'exec', 'query-status'],
        ['fleet', 'ls', '--nats', 'http://example'],
      ];
      for (const args of cases) {
        const r = run(...args);
        assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}, stderr ${r.stderr}`);
        assert.doesNotMatch(r.stderr, /    at /, `${args.join(' ')}: no stack trace`);
        assert.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line, got ${r.stderr}`);
      }
      // Not a usage error but a failure (nothing listening): one line too, exit 1.
      for (const args of [['shell', `unix:${join(dir, 'none.sock')}`], ['events', `unix:${join(dir, 'none.sock')}`], ['clients', 'tcp:127.0.0.1:1']]) {
        const r = run(...args);
        assert.equal(r.status, 1, `${args.join(' ')}: exit ${r.status}, stderr ${r.stderr}`);
        assert.doesNotMatch(r.stderr, /    at /, `${args.join(' ')}: no stack trace`);
        assert.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line, got ${r.stderr}`);
      }
      const cfg = run('serve', '--check-config', bad);
      assert.match(cfg.stderr, /config\.listen/, 'the bad field is named by its path');
      assert.match(run('serve', '--check-config', badUpstream).stderr, /^qmpmux serve: config\.upstream: bad address 'qemu\.sock': expected unix:PATH/);
      assert.match(run('serve', '--upstream', 'foo').stderr, /^qmpmux serve: --upstream: bad address 'foo'/, 'a flag is named as a flag');
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
      assert.equal(r.stderr, '', 'stdout is the JSON alone, for a pipeline');
      // Flags over the file, each plugin's options as it validated them (its defaults filled in).
      writeFileSync(ok, '{"upstream": "unix:/run/q.qmp", "plugins": [{"name": "event-replay"}]}');
      const withFlags = JSON.parse(run('serve', '--check-config', ok, '--listen', 'tcp:127.0.0.1:4445', '--plugin', 'clients').stdout);
      assert.deepEqual(withFlags.listen, ['tcp:127.0.0.1:4445']);
      assert.deepEqual(withFlags.plugins.map((p: { name: string }) => p.name), ['event-replay', 'clients']);
      assert.equal(withFlags.plugins[0].options.maxEvents, 10000);
      // A plugin's bad option: exit 2, the field named by its path.
      writeFileSync(ok, '{"plugins": [{"name": "policy", "options": {"principals": []}}]}');
      const bad = run('serve', '--check-config', ok);
      assert.equal(bad.status, 2);
      assert.equal(bad.stdout, '');
      assert.equal(bad.stderr, 'qmpmux serve: config.plugins[0].options.principals: expected at least one principal (qmpmux serve --help)\n');
      assert.equal(eff.limits.maxTotalClientOutputBytes, 256 * 1024 * 1024);
      const none = join(dir, 'none.json');
      writeFileSync(none, '{"upstream": "unix:/run/q.qmp", "plugins": []}');
      assert.deepEqual(JSON.parse(run('serve', '--check-config', none).stdout).plugins, [], '"plugins": [] means none');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
