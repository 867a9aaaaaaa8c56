// How declared own commands join QEMU's query-commands and query-qmp-schema replies (introspection.ts),
// on QEMU 7.2's recorded query-qmp-schema. The same through a running qmpmux against real QEMU:
// e2e/test/introspection.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import type { JsonPlain } from '@qmpmux/protocol';
import { collectOwnCommands, extendIntrospection, extendQmpSchema, extendQueryCommands, extendReply } from '../src/introspection.ts';
import { classifyLine } from '../src/upstream-message.ts';
import type { OwnCommandInfo } from '../src/own-command.ts';
import { qapiDataDir } from '@qmpmux/qapi';

type Entry = { name: string; 'meta-type': string; [k: string]: any };
const recorded = JSON.parse(readFileSync(resolve(qapiDataDir, 'qemu-7.2-query-qmp-schema.json'), 'utf8')) as Entry[];

describe('own commands in introspection', () => {
  it('collects declarations in plugin order, each name once (the first wins)', () => {
    const own = collectOwnCommands<OwnCommandInfo>([{ commands: [{ name: '__org.qmpmux_a' }, { name: '__org.qmpmux_b', returns: 'str' }] }, {}, { commands: [{ name: '__org.qmpmux_b' }] }]);
    assert.deepEqual(own, [{ name: '__org.qmpmux_a' }, { name: '__org.qmpmux_b', returns: 'str' }]);
  });

  it('query-commands: appended after QEMU’s, unless already there; nothing declared changes nothing', () => {
    const list = [{ name: 'stop' }, { name: '__org.qmpmux_a' }];
    assert.deepEqual(extendQueryCommands(list, [{ name: '__org.qmpmux_a' }, { name: '__org.qmpmux_b' }]), [...list, { name: '__org.qmpmux_b' }]);
    assert.equal(extendQueryCommands(list, [{ name: '__org.qmpmux_a' }]), undefined);
    assert.equal(extendIntrospection('query-commands', list, []), undefined);
    assert.equal(extendIntrospection('query-status', list, [{ name: 'x' }]), undefined);
    assert.equal(extendIntrospection('query-commands', { not: 'a list' }, [{ name: 'x' }]), undefined);
  });

  it('query-qmp-schema: fresh masked names above QEMU’s, QEMU’s builtins reused, missing array types added once', () => {
    const own: OwnCommandInfo[] = [
      { name: '__org.qmpmux_q', data: { '*flags': ['bool'], n: 'uint64' }, returns: [{ id: 'int', '*tags': ['str'], sub: { x: 'number' } }] },
      { name: '__org.qmpmux_r', returns: ['bool'], allowOob: true },
      { name: 'query-status' }, // QEMU has it: left alone
    ];
    const out = extendQmpSchema(recorded as unknown as JsonPlain[], own) as Entry[];
    assert.deepEqual(out.slice(0, recorded.length), recorded);
    const added = out.slice(recorded.length);
    const top = Math.max(...recorded.filter((e) => /^\d+$/.test(e.name)).map((e) => Number(e.name)));
    assert.deepEqual(added, [
      { name: '__org.qmpmux_q', 'ret-type': `[${top + 3}]`, 'meta-type': 'command', 'arg-type': String(top + 1) },
      { name: '__org.qmpmux_r', 'ret-type': '[bool]', 'meta-type': 'command', 'arg-type': String(top + 4), 'allow-oob': true },
      { name: '[bool]', 'element-type': 'bool', 'meta-type': 'array' },
      { name: String(top + 1), members: [{ name: 'flags', type: '[bool]', default: null }, { name: 'n', type: 'int' }], 'meta-type': 'object' },
      { name: String(top + 2), members: [{ name: 'x', type: 'number' }], 'meta-type': 'object' },
      { name: String(top + 3), members: [{ name: 'id', type: 'int' }, { name: 'tags', type: '[str]', default: null }, { name: 'sub', type: String(top + 2) }], 'meta-type': 'object' },
      { name: `[${top + 3}]`, 'element-type': String(top + 3), 'meta-type': 'array' },
      { name: String(top + 4), members: [], 'meta-type': 'object' },
    ]);
  });

  it("the grown reply's content parses (what plugins' onReply and the query cache see), its bytes keep QEMU's", () => {
    // QEMU writes the id last: {"return": …, "id": N}.
    const m = classifyLine(Buffer.from('{"return": [{"name": "stop"}], "id": 3}'));
    assert.ok(m.kind === 'reply');
    const grown = extendReply('query-commands', m.reply, [{ name: '__org.qmpmux_a' }])!;
    assert.deepEqual(grown.reply.result(), { return: [{ name: 'stop' }, { name: '__org.qmpmux_a' }] });
    assert.equal(grown.reply.forClient('"x"').toString(), '{"return": [{"name": "stop"}, {"name": "__org.qmpmux_a"}], "id": "x"}\r\n');
    assert.equal(grown.reply.forClient(undefined).toString(), '{"return": [{"name": "stop"}, {"name": "__org.qmpmux_a"}]}\r\n');
  });

  it('refuses a declaration it cannot express', () => {
    assert.throws(() => extendQmpSchema([], [{ name: 'x', returns: 'string' as never }]), /x returns: unknown builtin type 'string'/);
    assert.throws(() => extendQmpSchema([], [{ name: 'x', data: { a: ['int', 'str'] as never } }]), /x data\.a: an array type is written \[ELEMENT\]/);
  });

  it("extends QEMU's reply bytes in place; the grown reply parses (the query cache serves it to plugins again)", () => {
    const m = classifyLine(Buffer.from('{"return": [{"name": "query-status"}], "id": 7}'));
    assert.equal(m.kind, 'reply');
    const grown = extendReply('query-commands', (m as Extract<typeof m, { kind: 'reply' }>).reply, [{ name: '__org.qmpmux_x' }])!;
    assert.equal(grown.reply.forClient('"a"').toString('latin1'), '{"return": [{"name": "query-status"}, {"name": "__org.qmpmux_x"}], "id": "a"}\r\n');
    assert.deepEqual(grown.reply.result(), { return: [{ name: 'query-status' }, { name: '__org.qmpmux_x' }] });
  });
});
