// The clients plugin on its own: its declaration (what query-commands and query-qmp-schema show, see
// e2e/test/introspection.test.ts) and its answers, which must match what it declares.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COMMAND_PREFIX, NO_METRICS, createLogger, type ClientInfo, type CommandContext, type OwnCommand, type Plugin, type ProxyApi } from '@qmpmux/core';
import { clientsPlugin } from '../src/index.ts';

const NAME = `${COMMAND_PREFIX}query-clients`;

function client(id: number, extra: Partial<ClientInfo> = {}): ClientInfo {
  return {
    id,
    peer: { transport: 'unix', address: '/run/q.sock', pid: 100 + id, uid: 0, gid: 0 },
    connectedAt: new Date(1_700_000_000_000),
    principal: undefined,
    attributes: new Map(),
    negotiated: true,
    oob: false,
    stats: { commands: 1, events: 2 },
    ...extra,
  };
}

async function plugin(includeSelf: boolean, clients: ClientInfo[]): Promise<Plugin> {
  const proxy = { clients: new Map(clients.map((c) => [c.id, c])) } as unknown as ProxyApi;
  const options = clientsPlugin.validate({ includeSelf }, 'plugins[0].options');
  return clientsPlugin.create(options, { name: 'clients', vm: 'default', log: createLogger('test', 'error'), proxy, commandPrefix: COMMAND_PREFIX, metrics: NO_METRICS });
}

function command(c: ClientInfo, name: string, args?: Record<string, never>): CommandContext {
  return { client: c, command: name, arguments: args, oob: false, idText: undefined, fds: [], receivedAt: 0n, state: new Map() };
}

describe('clients plugin', () => {
  it('declares query-clients with its return type', async () => {
    const p = await plugin(true, []);
    assert.equal(p.commands?.length, 1);
    const d = p.commands![0] as OwnCommand;
    assert.equal(d.name, NAME);
    assert.equal(d.data, undefined);
    assert.ok(Array.isArray(d.returns));
  });

  it('answers with entries that match the declaration; includeSelf false leaves out the asker', async () => {
    const a = client(1);
    const b = client(2, { peer: { transport: 'tcp', address: '127.0.0.1:5000' }, principal: 'ops' });
    const p = await plugin(true, [a, b]);
    const members = ((p.commands![0] as OwnCommand).returns as readonly [Record<string, string>])[0];
    const v = await p.commands![0]!.run({}, command(a, NAME));
    assert.ok(v && v.action === 'reply' && Array.isArray(v.return));
    const list = v.return as Record<string, unknown>[];
    assert.deepEqual(list.map((e) => e.id), [1, 2]);
    for (const e of list) {
      for (const k of Object.keys(e)) assert.ok(k in members || `*${k}` in members, `declared: ${k}`);
      for (const k of Object.keys(members)) if (!k.startsWith('*')) assert.ok(k in e, `present: ${k}`);
    }
    assert.deepEqual(list[1], { id: 2, transport: 'tcp', address: '127.0.0.1:5000', negotiated: true, oob: false, 'connected-at': 1_700_000_000, commands: 1, events: 2, principal: 'ops' });
    assert.equal(list[0]!.pid, 101);

    const q = await plugin(false, [a, b]);
    const w = await q.commands![0]!.run({}, command(a, NAME));
    assert.deepEqual(w && w.action === 'reply' && (w.return as { id: number }[]).map((e) => e.id), [2]);
  });

  it('takes no arguments (the core checks them against the declaration) and has no onCommand hook', async () => {
    const p = await plugin(true, [client(1)]);
    assert.equal(p.commands![0]!.data, undefined);
    assert.equal(p.onCommand, undefined);
  });
});
