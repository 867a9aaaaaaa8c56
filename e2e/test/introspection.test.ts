/**
 * qmpmux's own commands in QEMU's introspection, against a real QEMU: query-commands through qmpmux is
 * QEMU's list plus the commands plugins declare, query-qmp-schema is QEMU's entries plus a command
 * entry and fresh (masked) types for each, still agreeing with the QAPI model for QEMU's own commands.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { QmpClient } from '@qmpmux/client';
import { answer, ownCommand, type JsonPlain, type PluginDefinition } from '@qmpmux/core';
import { clientsPlugin } from '@qmpmux/plugin-clients';
import { compareWithIntrospection, defaultSchema, loadSchema, type SchemaInfo } from '@qmpmux/qapi';
import { startProxy, startQemu, type TestProxy, type TestQemu } from '../src/index.ts';

const QUERY_CLIENTS = '__org.qmpmux_query-clients';

/** A plugin declaring a name-only command and a typed one, and recording what onReply saw of query-commands. */
const seen: string[][] = [];
const probe: PluginDefinition = {
  name: 'probe',
  validate: () => ({}),
  create: (_o, ctx) => ({
    name: 'probe',
    commands: [
      ownCommand({ name: `${ctx.commandPrefix}x-probe-bare`, returns: 'any', run: async () => answer({}) }),
      ownCommand({
        name: `${ctx.commandPrefix}x-probe-echo`,
        data: { text: 'str', '*times': 'uint32', '*tags': ['str'] },
        returns: { echo: ['str'], '*meta': { n: 'number', ok: 'bool' } },
        allowOob: true,
        features: ['unstable'],
        run: async (args) => answer({ echo: Array.from({ length: args.times ?? 1 }, () => args.text) }),
      }),
    ],
    async onReply(r) {
      if (r.executed !== 'query-commands') return;
      const res = r.result();
      if ('return' in res) seen.push((res.return as { name: string }[]).map((e) => e.name));
    },
  }),
};

type Schema = SchemaInfo[];

/** Return texts (without the id) of a command, as received. */
function rawReturn(c: QmpClient, cmd: 'query-commands' | 'query-qmp-schema'): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const sub = c.messages$.subscribe((m) => {
      if ('return' in (m.value as object)) {
        sub.unsubscribe();
        resolve(m.raw.toString('latin1').replace(/, "id": \d+\}$/, '}'));
      }
    });
    c.execute(cmd).catch(reject);
  });
}

describe('introspection through qmpmux lists its own commands', () => {
  let qemu: TestQemu;
  let mux: TestProxy;
  let viaMux: QmpClient;
  const model = loadSchema(defaultSchema);
  // QEMU's own answers, asked directly before qmpmux takes QEMU's (single) monitor connection.
  let qemuCommands: string[];
  let qemuSchema: Schema;

  before(async () => {
    qemu = await startQemu();
    const direct = await QmpClient.connect(qemu.address);
    qemuCommands = (await direct.execute('query-commands')).map((c) => c.name);
    qemuSchema = (await direct.execute('query-qmp-schema')) as unknown as Schema;
    direct.close();
    await new Promise<void>((r) => direct.state$.subscribe({ complete: r }));
    mux = await startProxy(qemu.address, { plugins: [{ definition: clientsPlugin }, { definition: probe }] });
    viaMux = await QmpClient.connect(mux.unix);
  });
  after(async () => {
    viaMux?.close();
    await mux?.stop();
    await qemu?.stop();
  });

  it("query-commands: QEMU's list, then the declared commands, and plugins' onReply sees the whole list", async () => {
    const own = ['__org.qmpmux_query-clients', '__org.qmpmux_x-probe-bare', '__org.qmpmux_x-probe-echo'];
    const qemuList = qemuCommands;
    const muxList = (await viaMux.execute('query-commands')).map((c) => c.name);
    assert.ok(qemuList.length > 200 && !qemuList.some((n) => n.startsWith('__org.qmpmux_')));
    assert.deepEqual(muxList, [...qemuList, ...own]);
    assert.deepEqual(seen.at(-1), muxList);
    // each listed command is really there
    assert.equal((await viaMux.execute<{ id: number }[]>(QUERY_CLIENTS)).length, 1);
    assert.deepEqual(await viaMux.execute('__org.qmpmux_x-probe-bare'), {});
  });

  it("query-qmp-schema: QEMU's entries unchanged, then a command entry and fresh types per own command", async () => {
    const muxSchema = (await viaMux.execute('query-qmp-schema')) as unknown as Schema;
    assert.deepEqual(muxSchema.slice(0, qemuSchema.length), qemuSchema);
    const added = muxSchema.slice(qemuSchema.length);
    const qemuNames = new Set(qemuSchema.map((e) => e.name));
    const byName = new Map(muxSchema.map((e) => [e.name, e]));
    assert.equal(byName.size, muxSchema.length, 'names are unique');
    for (const e of added) assert.ok(!qemuNames.has(e.name), `${e.name} is new`);

    // Every type the schema names resolves, and the masked names look like QEMU's.
    const resolve = (name: string | undefined): SchemaInfo => {
      const e = byName.get(name!);
      assert.ok(e, `type '${name}' is defined`);
      return e;
    };
    for (const e of muxSchema) {
      for (const t of [e['arg-type'], e['ret-type'], e['element-type'], ...(e.members ?? []).map((m) => m.type)]) if (t !== undefined) resolve(t);
    }
    for (const e of added) if (e['meta-type'] === 'object') assert.match(e.name, /^\d+$/);

    const members = (e: SchemaInfo): Record<string, { type: string; optional: boolean }> => Object.fromEntries((e.members ?? []).map((m) => [m.name, { type: resolve(m.type).name.replace(/\d+/g, 'N'), optional: 'default' in m }]));

    const qc = resolve(QUERY_CLIENTS);
    assert.equal(qc['meta-type'], 'command');
    assert.deepEqual(resolve(qc['arg-type']).members, []);
    const ret = resolve(qc['ret-type']);
    assert.equal(ret['meta-type'], 'array');
    const entry = resolve(ret['element-type']);
    assert.deepEqual(members(entry), {
      id: { type: 'int', optional: false },
      transport: { type: 'str', optional: false },
      address: { type: 'str', optional: false },
      negotiated: { type: 'bool', optional: false },
      oob: { type: 'bool', optional: false },
      'connected-at': { type: 'int', optional: false },
      commands: { type: 'int', optional: false },
      events: { type: 'int', optional: false },
      pid: { type: 'int', optional: true },
      uid: { type: 'int', optional: true },
      gid: { type: 'int', optional: true },
      certificate: { type: 'str', optional: true },
      principal: { type: 'str', optional: true },
    });
    for (const m of entry.members!) if ('default' in m) assert.equal(m.default, null);

    // What the command answers matches what it declares.
    const [me] = await viaMux.execute<Record<string, JsonPlain>[]>(QUERY_CLIENTS);
    const declared = members(entry);
    for (const [k, v] of Object.entries(me!)) {
      assert.ok(declared[k], `declared member ${k}`);
      const json = { int: 'number', str: 'string', bool: 'boolean' }[declared[k]!.type as 'int'];
      assert.equal(typeof v, json, k);
    }
    for (const [k, d] of Object.entries(declared)) if (!d.optional) assert.ok(k in me!, `required member ${k} present`);

    const bare = resolve('__org.qmpmux_x-probe-bare');
    assert.deepEqual(resolve(bare['arg-type']).members, []);
    assert.equal(bare['ret-type'], 'any');

    const echo = resolve('__org.qmpmux_x-probe-echo');
    assert.equal(echo['allow-oob'], true);
    assert.deepEqual(echo.features, ['unstable']);
    assert.deepEqual(members(resolve(echo['arg-type'])), {
      text: { type: 'str', optional: false },
      times: { type: 'int', optional: true },
      tags: { type: '[str]', optional: true },
    });
    const echoRet = resolve(echo['ret-type']);
    assert.deepEqual(members(echoRet), { echo: { type: '[str]', optional: false }, meta: { type: 'N', optional: true } });
    assert.deepEqual(members(resolve(echoRet.members!.find((m) => m.name === 'meta')!.type)), {
      n: { type: 'number', optional: false },
      ok: { type: 'bool', optional: false },
    });
  });

  it("query-qmp-schema through qmpmux still validates against the QAPI model for QEMU's own commands", async () => {
    const schema = (await viaMux.execute('query-qmp-schema')) as unknown as Schema;
    const own = schema.filter((e) => e['meta-type'] === 'command' && e.name.startsWith('__org.qmpmux_')).map((e) => e.name);
    assert.deepEqual(own, ['__org.qmpmux_query-clients', '__org.qmpmux_x-probe-bare', '__org.qmpmux_x-probe-echo']);
    // The model is QEMU's: the only differences it reports are the extension commands themselves.
    const full = compareWithIntrospection(model, schema);
    assert.deepEqual(
      full.mismatches.map((m) => `${m.path}: ${m.message}`),
      own.map((n) => `command ${n}: the binary has this command, the model does not`),
    );
    const qemuOnly = compareWithIntrospection(
      model,
      schema.filter((e) => !own.includes(e.name)),
    );
    assert.deepEqual(qemuOnly.mismatches, []);
    assert.ok(qemuOnly.commandsChecked > 200);
  });

  it('without declared commands the replies are QEMU’s, byte for byte', async () => {
    const q = await startQemu();
    let p: TestProxy | undefined;
    try {
      const direct = await QmpClient.connect(q.address);
      const want = [await rawReturn(direct, 'query-commands'), await rawReturn(direct, 'query-qmp-schema')];
      direct.close();
      await new Promise<void>((r) => direct.state$.subscribe({ complete: r }));
      p = await startProxy(q.address, { tcp: false, plugins: [{ definition: { ...probe, create: (o, ctx) => ({ ...(probe.create(o, ctx) as object), name: 'probe', commands: [] }) } }] });
      const c = await QmpClient.connect(p.unix);
      assert.deepEqual([await rawReturn(c, 'query-commands'), await rawReturn(c, 'query-qmp-schema')], want);
      c.close();
    } finally {
      await p?.stop();
      await q.stop();
    }
  });
});
