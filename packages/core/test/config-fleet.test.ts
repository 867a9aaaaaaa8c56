/** The fleet form of the config file: what it parses to, and every bad field named by its path. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, DEFAULT_FLEET_LIMITS, isFleet, parseConfig, parseVmEntry } from '../src/index.ts';

const vm = (name: string, extra: Record<string, unknown> = {}) => ({ name, upstream: `unix:/run/qemu/${name}.qmp`, listen: [`unix:/run/mux/${name}.sock`], ...extra });
const fails = (raw: unknown, path: string, re: RegExp) =>
  assert.throws(
    () => parseConfig(raw),
    (e: unknown) => e instanceof ConfigError && e.path === path && re.test(e.problem),
    `${JSON.stringify(raw)} → ${path}`,
  );

describe('the fleet form of the config', () => {
  it('parses vms, discover and control; top-level plugins are the default; fleet limits apart from the core limits', () => {
    const cfg = parseConfig({ vms: [vm('a'), vm('b', { plugins: [], limits: { maxClients: 3 } })], discover: { dir: '/run/qemu' }, control: 'unix:/run/mux/ctl.sock', limits: { maxVms: 7, maxClients: 9 } });
    assert.equal(isFleet(cfg), true);
    assert.deepEqual(cfg.vms!.map((v) => [v.name, v.path, v.plugins, v.limits]), [
      ['a', 'config.vms[0]', undefined, {}],
      ['b', 'config.vms[1]', [], { maxClients: 3 }],
    ]);
    assert.deepEqual(cfg.plugins.map((p) => p.name), ['fdsets', 'clients']);
    assert.deepEqual(cfg.discover, { dir: '/run/qemu', glob: '*.qmp', listen: ['unix:qmpmux-{name}.sock'], plugins: undefined, limits: {} });
    assert.equal(cfg.control, 'unix:/run/mux/ctl.sock');
    assert.deepEqual(cfg.fleetLimits, { ...DEFAULT_FLEET_LIMITS, maxVms: 7 });
    assert.deepEqual(cfg.limits, { maxClients: 9 });
    assert.equal(isFleet(parseConfig({ upstream: 'unix:/q' })), false);
  });

  it('names every bad field by its path', () => {
    fails({ vms: [vm('a'), vm('a')] }, 'config.vms[1].name', /VM name 'a' is used by config\.vms\[0\] too/);
    fails({ vms: [vm('a'), vm('b'), vm('c'), { name: 'd', listen: ['unix:/x'] }] }, 'config.vms[3].upstream', /^missing: the fleet form attaches to QEMUs others start/);
    fails({ vms: [vm('a', { name: 'a b' })] }, 'config.vms[0].name', /a VM name is 1 to 64 of/);
    fails({ vms: [vm('a', { listen: [] })] }, 'config.vms[0].listen', /at least one/);
    fails({ vms: [vm('a', { listen: ['udp:1'] })] }, 'config.vms[0].listen[0]', /bad address 'udp:1'/);
    fails({ vms: [vm('a', { upstream: 'ws://h:1/x' })] }, 'config.vms[0].upstream', /QEMU's QMP socket is unix:PATH or tcp:HOST:PORT/);
    fails({ vms: [vm('a', { colour: 1 })] }, 'config.vms[0].colour', /unknown field/);
    fails({ vms: [vm('a', { limits: { maxVms: 2 } })] }, 'config.vms[0].limits.maxVms', /unknown field/);
    fails({ vms: [vm('a', { limits: { maxTotalClientOutputBytes: 1024 } })] }, 'config.vms[0].limits.maxTotalClientOutputBytes', /process-wide limit .*top-level "limits"/);
    fails({ vms: [vm('a', { plugins: [{ options: {} }] })] }, 'config.vms[0].plugins[0].name', /non-empty string/);
    fails({ vms: [vm('a'), vm('b', { listen: ['tcp:127.0.0.1:4000', 'unix:/run/mux/a.sock'] })] }, 'config.vms[1].listen[1]', /unix:\/run\/mux\/a\.sock is also config\.vms\[0\]\.listen\[0\]/);
    fails({ vms: [vm('a')], listen: ['unix:/x'] }, 'config.listen', /not in the fleet form/);
    fails({ vms: [vm('a')], qemu: {} }, 'config.qemu', /not in the fleet form/);
    fails({ discover: { dir: '/d', glob: 'a/*.qmp' } }, 'config.discover.glob', /no "\/"/);
    fails({ discover: { dir: '/d', listen: ['unix:/all.sock'] } }, 'config.discover.listen[0]', /put \{name\} in it/);
    fails({ discover: {} }, 'config.discover.dir', /non-empty string/);
    fails({ vms: [vm('a')], control: 'tcp:127.0.0.1:1' }, 'config.control', /expected unix:PATH/);
    fails({ limits: { discoverGoneMs: 0 } }, 'config.limits.discoverGoneMs', /integer from 1/);
  });

  it("a port-0 template needs no {name}; add-vm's arguments parse as a vms[] entry", () => {
    assert.deepEqual(parseConfig({ discover: { dir: '/d', listen: ['tcp:127.0.0.1:0'] } }).discover!.listen, ['tcp:127.0.0.1:0']);
    assert.throws(() => parseVmEntry({ name: 'x', upstream: 'unix:/q', listen: ['unix:/s'], plugins: 3 }, 'arguments'), (e: unknown) => e instanceof ConfigError && e.path === 'arguments.plugins');
  });
});
