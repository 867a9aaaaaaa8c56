/** Proxy.reload: new plugin options all or nothing; Plugin.commands and ProxyApi.ownCommands. No QEMU needed. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, Proxy, answer, createLogger, ownCommand, validate as v, type PluginDefinition, type PluginSpec } from '../src/index.ts';
import { PluginError } from '../src/plugin-host.ts';

interface Opts {
  n: number;
  fail: boolean;
}

/** A plugin that records every reconfigure; options `{ n, fail }`, where `fail` makes reconfigure throw. */
function recorder(name: string, opts: { reconfigurable?: boolean; commands?: string[] } = {}) {
  const seen: number[] = [];
  const def: PluginDefinition<Opts> = {
    name,
    validate(o, path) {
      const x = v.object(o, path, ['n', 'fail']);
      return { n: v.int(x.n, `${path}.n`, 0, 0, 100), fail: v.bool(x.fail, `${path}.fail`, false) };
    },
    create(o) {
      seen.push(o.n);
      return {
        name,
        commands: opts.commands?.map((c) => ownCommand({ name: c, run: async () => answer({}) })),
        ...(opts.reconfigurable === false
          ? {}
          : {
              async reconfigure(n: Opts) {
                if (n.fail) throw new Error('cannot apply');
                seen.push(n.n);
              },
            }),
      };
    },
  };
  return { def, seen };
}

async function proxyWith(specs: PluginSpec[]): Promise<Proxy> {
  return Proxy.create({ upstream: 'unix:/nonexistent/qmp.sock', listen: [], plugins: specs, log: createLogger('test', 'silent') });
}

describe('Proxy.reload', () => {
  it('gives every reconfigurable plugin its new options, in order', async () => {
    const a = recorder('a');
    const b = recorder('b');
    const p = await proxyWith([
      { definition: a.def, options: { n: 1 } },
      { definition: b.def, options: { n: 2 } },
    ]);
    await p.reload([
      { definition: a.def, options: { n: 10 } },
      { definition: b.def, options: { n: 20 } },
    ]);
    assert.deepEqual([a.seen, b.seen], [[1, 10], [2, 20]]);
  });

  it('an invalid option anywhere changes nothing, and the error names the field', async () => {
    const a = recorder('a');
    const b = recorder('b');
    const p = await proxyWith([{ definition: a.def }, { definition: b.def }]);
    await assert.rejects(
      p.reload([
        { definition: a.def, options: { n: 5 } },
        { definition: b.def, options: { n: 'x' } },
      ]),
      (e: unknown) => e instanceof ConfigError && e.path === 'plugins[1].options.n',
    );
    assert.deepEqual([a.seen, b.seen], [[0], [0]], 'a was not reconfigured although its options were valid');
  });

  it('a reconfigure that throws rolls back the plugins already reconfigured', async () => {
    const a = recorder('a');
    const b = recorder('b');
    const p = await proxyWith([
      { definition: a.def, options: { n: 1 } },
      { definition: b.def, options: { n: 2 } },
    ]);
    await assert.rejects(
      p.reload([
        { definition: a.def, options: { n: 10 } },
        { definition: b.def, options: { n: 20, fail: true } },
      ]),
      (e: unknown) => e instanceof PluginError && e.plugin === 'b' && e.hook === 'reconfigure' && /cannot apply/.test(e.message),
    );
    assert.deepEqual(a.seen, [1, 10, 1], 'a got its new options, then its previous ones back');
    assert.deepEqual(b.seen, [2]);
    // The failed reload left the old options current: the next reload rolls back from them, not from the failed ones.
    await p.reload([
      { definition: a.def, options: { n: 11 } },
      { definition: b.def, options: { n: 21 } },
    ]);
    assert.deepEqual([a.seen, b.seen], [[1, 10, 1, 11], [2, 21]]);
  });

  it('a plugin without reconfigure keeps its options: the same options pass, changed ones are refused', async () => {
    const a = recorder('a');
    const fixed = recorder('fixed', { reconfigurable: false });
    const p = await proxyWith([
      { definition: a.def, options: { n: 1 } },
      { definition: fixed.def, options: { n: 7 } },
    ]);
    await p.reload([
      { definition: a.def, options: { n: 2 } },
      { definition: fixed.def, options: { n: 7 } },
    ]);
    await assert.rejects(
      p.reload([
        { definition: a.def, options: { n: 3 } },
        { definition: fixed.def, options: { n: 8 } },
      ]),
      (e: unknown) => e instanceof ConfigError && e.path === 'plugins[1].options' && /cannot change its options while running/.test(e.problem),
    );
    assert.deepEqual(a.seen, [1, 2]);
  });

  it('adding, removing or reordering plugins is refused', async () => {
    const a = recorder('a');
    const b = recorder('b');
    const p = await proxyWith([{ definition: a.def }, { definition: b.def }]);
    for (const specs of [[{ definition: a.def }], [{ definition: b.def }, { definition: a.def }], [{ definition: a.def }, { definition: b.def }, { definition: recorder('c').def }]]) {
      await assert.rejects(p.reload(specs), (e: unknown) => e instanceof ConfigError && e.path === 'plugins' && /restart qmpmux/.test(e.problem));
    }
    assert.deepEqual([a.seen, b.seen], [[0], [0]]);
  });
});

describe('ownCommands', () => {
  it("is every plugin's declared commands, in plugin order, each once", async () => {
    const p = await proxyWith([
      { definition: recorder('a', { commands: ['__org.qmpmux_x', '__org.qmpmux_y'] }).def },
      { definition: recorder('b').def },
      { definition: recorder('c', { commands: ['__org.qmpmux_z', '__org.qmpmux_x'] }).def },
    ]);
    assert.deepEqual(p.ownCommands, ['__org.qmpmux_x', '__org.qmpmux_y', '__org.qmpmux_z']);
  });
});
