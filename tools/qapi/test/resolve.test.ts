import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AlternateType, EnumType, ObjectType } from '../src/index.ts';
import { assertQapiError, resolveVirtual } from './helpers.ts';

const F = '/r/s.json';

function schema(...exprs: string[]): Record<string, string> {
  return { [F]: `${exprs.join('\n')}\n` };
}

describe('resolver', () => {
  it('builds every definition kind with conditions and features', () => {
    const m = resolveVirtual(schema(
      "{ 'enum': 'Color', 'prefix': 'COL', 'data': [ 'red', { 'name': 'green', 'if': 'CONFIG_GREEN', 'features': [ 'unstable' ] } ] }",
      "{ 'struct': 'Base', 'data': { 'kind': 'Color', '*id': 'str' } }",
      "{ 'struct': 'Red', 'data': { 'shade': 'uint8' } }",
      "{ 'struct': 'Green', 'base': 'Base', 'data': { 'leaf': { 'type': [ 'int' ], 'if': { 'all': [ 'A', { 'not': 'B' } ] }, 'features': [ { 'name': 'deprecated', 'if': 'C' } ] } } }",
      "{ 'union': 'Paint', 'base': 'Base', 'discriminator': 'kind', 'data': { 'red': 'Red' } }",
      "{ 'union': 'Inline', 'base': { 'kind': 'Color' }, 'discriminator': 'kind', 'data': { 'red': 'Red', 'green': { 'type': 'Red', 'if': 'CONFIG_GREEN' } } }",
      "{ 'alternate': 'RefOrName', 'data': { 'ref': 'Red', 'name': 'str', 'none': 'null' } }",
      "{ 'command': 'paint', 'data': { 'what': 'Paint', '*times': 'size' }, 'returns': [ 'Red' ], 'allow-oob': true, 'allow-preconfig': true, 'features': [ 'unstable' ], 'if': { 'any': [ 'X', 'Y' ] } }",
      "{ 'command': 'paint-boxed', 'data': 'Paint', 'boxed': true, 'coroutine': true, 'success-response': false, 'gen': false }",
      "{ 'event': 'PAINTED', 'data': 'Base' }",
      "{ 'event': 'PAINTED_BOXED', 'data': 'Paint', 'boxed': true }",
    ));
    const color = m.types.get('Color') as EnumType;
    assert.equal(color.prefix, 'COL');
    assert.deepEqual(color.values, [{ name: 'red', features: [] }, { name: 'green', if: 'CONFIG_GREEN', features: [{ name: 'unstable' }] }]);
    const green = m.types.get('Green') as ObjectType;
    assert.deepEqual(green.members.map((x) => [x.name, x.optional, x.type, x.owner]), [
      ['kind', false, 'Color', 'Base'],
      ['id', true, 'str', 'Base'],
      ['leaf', false, 'intList', 'Green'],
    ]);
    assert.deepEqual(green.members[2]!.if, { all: ['A', { not: 'B' }] });
    assert.deepEqual(green.members[2]!.features, [{ name: 'deprecated', if: 'C' }]);
    const paint = m.types.get('Paint') as ObjectType;
    assert.deepEqual(paint.variants, { tag: 'kind', tagType: 'Color', cases: [{ name: 'red', type: 'Red' }, { name: 'green', if: 'CONFIG_GREEN' }] });
    const inline = m.types.get('Inline') as ObjectType;
    assert.equal(inline.base, 'q_obj_Inline-base');
    assert.deepEqual(inline.members.map((x) => x.name), ['kind']);
    assert.deepEqual(inline.variants!.cases, [{ name: 'red', type: 'Red' }, { name: 'green', type: 'Red', if: 'CONFIG_GREEN' }]);
    assert.deepEqual((m.types.get('RefOrName') as AlternateType).branches.map((b) => [b.name, b.type]), [['ref', 'Red'], ['name', 'str'], ['none', 'null']]);
    const paintCmd = m.commands.get('paint')!;
    assert.deepEqual(
      { arg: paintCmd.argType, ret: paintCmd.retType, oob: paintCmd.allowOob, pre: paintCmd.allowPreconfig, if: paintCmd.if },
      { arg: 'q_obj_paint-arg', ret: 'RedList', oob: true, pre: true, if: { any: ['X', 'Y'] } },
    );
    const boxed = m.commands.get('paint-boxed')!;
    assert.deepEqual([boxed.argType, boxed.boxed, boxed.coroutine, boxed.successResponse, boxed.gen], ['Paint', true, true, false, false]);
    assert.equal(m.events.get('PAINTED')!.argType, 'Base');
    assert.equal(m.events.get('PAINTED_BOXED')!.boxed, true);
    assert.deepEqual(m.outline.map((o) => (o.kind === 'doc' ? 'doc' : o.name)), [
      'Color', 'Base', 'Red', 'Green', 'Paint', 'Inline', 'RefOrName', 'paint', 'paint-boxed', 'PAINTED', 'PAINTED_BOXED',
    ]);
  });
});

describe('semantic errors carry file:line:col', () => {
  const cases: [string, string[], string][] = [
    ['unknown type', ["{ 'struct': 'Foo',", "  'data': { 'a': 'Nope' } }"], "/r/s.json:2:18: member 'a' of struct 'Foo' uses unknown type 'Nope'"],
    ['unknown array element type', ["{ 'command': 'go', 'returns': [ 'Nope' ] }"], "/r/s.json:1:31: 'returns' of command 'go' uses unknown type 'Nope'"],
    ['a command used as a type', ["{ 'command': 'go' }", "{ 'struct': 'Foo', 'data': { 'a': 'go' } }"], "/r/s.json:2:35: member 'a' of struct 'Foo' uses command 'go' as a type"],
    ['duplicate definition', ["{ 'enum': 'Foo', 'data': [] }", "{ 'struct': 'Foo', 'data': {} }"], "/r/s.json:2:1: 'Foo' is already defined (as enum 'Foo' at /r/s.json:1:1)"],
    ['redefining a builtin', ["{ 'enum': 'QType', 'data': [] }"], "/r/s.json:1:1: 'QType' is already defined (as a builtin type)"],
    ['unknown key', ["{ 'struct': 'Foo', 'data': {}, 'bsae': 'X' }"], "/r/s.json:1:32: struct 'Foo' has unknown key 'bsae'"],
    ['missing key', ["{ 'union': 'Uni', 'data': {} }"], "/r/s.json:1:1: union 'Uni' misses keys 'base', 'discriminator'"],
    ['no definition keyword', ["{ 'data': {} }"], "/r/s.json:1:1: expression is missing a definition keyword (one of 'enum', 'struct', 'union', 'alternate', 'command', 'event')"],
    ['two definition keywords', ["{ 'enum': 'Foo', 'struct': 'Foo', 'data': [] }"], "/r/s.json:1:18: expression has both 'enum' and 'struct'"],
    ['type name not CamelCase', ["{ 'struct': 'foo', 'data': {} }"], "/r/s.json:1:13: name of struct 'foo' must use CamelCase"],
    ['type name ending in List', ["{ 'struct': 'FooList', 'data': {} }"], "/r/s.json:1:13: struct name 'FooList' must not end with 'List'"],
    ['event name not upper case', ["{ 'event': 'Stop' }"], "/r/s.json:1:12: name of event 'Stop' must use only upper case"],
    ['reserved member name', ["{ 'struct': 'Foo', 'data': { 'has-x': 'str' } }"], "/r/s.json:1:30: member of struct 'Foo' uses reserved name 'has-x'"],
    ['upper-case member name', ["{ 'struct': 'Foo', 'data': { 'Bad': 'str' } }"], "/r/s.json:1:30: member of struct 'Foo' 'Bad' must not use upper case"],
    ['duplicate enum value', ["{ 'enum': 'Foo', 'data': [ 'a', 'b', 'a' ] }"], "/r/s.json:1:38: enum 'Foo' has value 'a' twice"],
    ['optional and plain member of the same name', ["{ 'struct': 'Foo', 'data': { 'a': 'str', '*a': 'int' } }"], "/r/s.json:1:42: struct 'Foo' has member 'a' twice"],
    ['bad if: empty all', ["{ 'struct': 'Foo', 'data': {}, 'if': { 'all': [] } }"], "/r/s.json:1:47: 'if' condition 'all' has an empty list"],
    ['bad if: unknown operator', ["{ 'struct': 'Foo', 'data': {}, 'if': { 'either': [ 'A' ] } }"], "/r/s.json:1:40: 'if' condition has unknown operator 'either'"],
    ['bad if: two operators', ["{ 'struct': 'Foo', 'data': {}, 'if': { 'all': [ 'A' ], 'any': [ 'B' ] } }"], "/r/s.json:1:38: 'if' condition object must have exactly one key: 'all', 'any' or 'not'"],
    ['flag with the wrong value', ["{ 'command': 'go', 'allow-oob': false }"], "/r/s.json:1:33: flag 'allow-oob' may only use true"],
    ['boxed without data', ["{ 'command': 'go', 'boxed': true }"], "/r/s.json:1:1: command 'go': 'boxed': true requires 'data'"],
    ['coroutine with allow-oob', ["{ 'command': 'go', 'allow-oob': true, 'coroutine': true }"], "/r/s.json:1:39: command 'go': 'coroutine': true is incompatible with 'allow-oob': true"],
    ['struct base that is not a struct', ["{ 'enum': 'Kind', 'data': [ 'x' ] }", "{ 'struct': 'Foo', 'base': 'Kind', 'data': {} }"], "/r/s.json:2:28: 'base' of struct 'Foo' must be a struct type, but 'Kind' is an enum"],
    ['base loop', ["{ 'struct': 'Aa', 'base': 'Bb', 'data': {} }", "{ 'struct': 'Bb', 'base': 'Aa', 'data': {} }"], "/r/s.json:1:1: object 'Aa' contains itself through its base (Aa -> Bb -> Aa)"],
    ['member clashing with a base member', ["{ 'struct': 'Bb', 'data': { 'x-y': 'str' } }", "{ 'struct': 'Foo', 'base': 'Bb', 'data': { 'x_y': 'int' } }"], "/r/s.json:2:44: member 'x_y' of 'Foo' collides with member 'x-y' of base 'Bb'"],
    [
      'discriminator not in the base',
      ["{ 'enum': 'Kind', 'data': [ 'x' ] }", "{ 'union': 'Uni', 'base': { 'kind': 'Kind' }, 'discriminator': 'type', 'data': {} }"],
      "/r/s.json:2:64: discriminator 'type' of union 'Uni' is not a member of its base",
    ],
    [
      'discriminator not an enum',
      ["{ 'union': 'Uni', 'base': { 'kind': 'str' }, 'discriminator': 'kind', 'data': {} }"],
      "/r/s.json:1:63: discriminator member 'kind' of union 'Uni' must be of enum type, not 'str'",
    ],
    [
      'optional discriminator',
      ["{ 'enum': 'Kind', 'data': [ 'x' ] }", "{ 'union': 'Uni', 'base': { '*kind': 'Kind' }, 'discriminator': 'kind', 'data': {} }"],
      "/r/s.json:2:65: discriminator member 'kind' of union 'Uni' must not be optional",
    ],
    [
      'branch that is not an enum value',
      ["{ 'enum': 'Kind', 'data': [ 'x' ] }", "{ 'struct': 'Ss', 'data': {} }", "{ 'union': 'Uni', 'base': { 'kind': 'Kind' }, 'discriminator': 'kind',", "  'data': { 'y': 'Ss' } }"],
      "/r/s.json:4:13: branch 'y' of union 'Uni' is not a value of enum 'Kind'",
    ],
    [
      'branch that is not a struct',
      ["{ 'enum': 'Kind', 'data': [ 'x' ] }", "{ 'union': 'Uni', 'base': { 'kind': 'Kind' }, 'discriminator': 'kind', 'data': { 'x': 'Kind' } }"],
      "/r/s.json:2:87: branch 'x' of union 'Uni' must be a struct type, but 'Kind' is an enum",
    ],
    [
      'ambiguous alternate',
      ["{ 'alternate': 'Alt', 'data': { 'a': 'int', 'b': 'number' } }"],
      "/r/s.json:1:45: branch 'b' of alternate 'Alt' can't be distinguished from 'a' (both accept JSON number)",
    ],
    [
      'union data without boxed',
      ["{ 'enum': 'Kind', 'data': [ 'x' ] }", "{ 'union': 'Uni', 'base': { 'kind': 'Kind' }, 'discriminator': 'kind', 'data': {} }", "{ 'command': 'go', 'data': 'Uni' }"],
      "/r/s.json:3:28: 'data' of command 'go' can use union type 'Uni' only with 'boxed': true",
    ],
  ];
  for (const [what, exprs, message] of cases) {
    it(what, () => {
      assertQapiError(() => resolveVirtual(schema(...exprs)), message, 'QAPI_SEMANTIC');
    });
  }
});
