/**
 * QEMU-exact output: numbers, string escapes, key order, and whole values.
 * Expected texts come from real QEMU 7.2 echoing ids (fixtures) and from
 * glibc's printf("%.17g") for the number cases.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatDouble, quoteString, serializeQemu, serializeNode, serializePlain, toPlain, QmpFramer, type FrameEvent, type JsonNode } from '../src/index.ts';

function parse(text: string): JsonNode {
  const [ev] = new QmpFramer().push(Buffer.from(text + ' ', 'latin1'));
  assert.equal(ev?.type, 'message');
  return (ev as Extract<FrameEvent, { type: 'message' }>).root;
}

describe('formatDouble (%.17g)', () => {
  const cases: [number, string][] = [
    [0.1, '0.10000000000000001'],
    [1.0, '1'],
    [1.5e-7, '1.4999999999999999e-07'],
    [18446744073709551616, '1.8446744073709552e+19'],
    [-0, '-0'],
    [0, '0'],
    [Infinity, 'inf'],
    [-Infinity, '-inf'],
    [NaN, 'nan'],
    [1e21, '1e+21'],
    [1e16, '10000000000000000'],
    [1e17, '1e+17'],
    [0.0001, '0.0001'],
    [0.00001, '1.0000000000000001e-05'],
    [1e-7, '9.9999999999999995e-08'],
    [5e-324, '4.9406564584124654e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [123456789.125, '123456789.125'],
    [-2.5, '-2.5'],
    [100, '100'],
    [0.30000000000000004, '0.30000000000000004'],
    [2 ** 53, '9007199254740992'],
    [-9223372036854775809, '-9.2233720368547758e+18'],
  ];
  for (const [x, text] of cases) {
    it(`prints ${Object.is(x, -0) ? '-0' : x} as ${text}`, () => assert.equal(formatDouble(x), text));
  }

  it('rounds an exact tie half to even like glibc, unlike Number#toPrecision', () => {
    // 1 + 2^-17 = 1.00000762939453125 exactly: the 18th digit is a final 5.
    assert.equal((1 + 2 ** -17).toPrecision(17), '1.0000076293945313');
    assert.equal(formatDouble(1 + 2 ** -17), '1.0000076293945312');
    assert.equal(formatDouble(1 + 3 * 2 ** -17), '1.0000228881835938');
  });
});

describe('quoteString', () => {
  it('escapes ", \\ and the short control escapes, and leaves / alone', () => {
    assert.equal(quoteString('a"b\\c/d\b\f\n\r\t'), '"a\\"b\\\\c/d\\b\\f\\n\\r\\t"');
  });

  it('writes other code points outside 0x20..0x7E as uppercase \\uXXXX', () => {
    assert.equal(quoteString('é\u0000\u001f\u007f\u00ff\u2028'), '"\\u00E9\\u0000\\u001F\\u007F\\u00FF\\u2028"');
  });

  it('writes astral code points as surrogate pairs', () => {
    assert.equal(quoteString('😀'), '"\\uD83D\\uDE00"');
  });

  it('writes what QEMU could not hold (lone surrogates, noncharacters) as \\uFFFD', () => {
    assert.equal(quoteString('\ud83d|\ude00|\ufdd0|\ufffe|\u{1fffe}|\u{10ffff}'), '"\\uFFFD|\\uFFFD|\\uFFFD|\\uFFFD|\\uFFFD|\\uFFFD"');
  });

  it('keeps plain ASCII as is', () => {
    assert.equal(quoteString('query-status'), '"query-status"');
    assert.equal(quoteString(''), '""');
  });
});

describe('serializeQemu', () => {
  it('keeps 64-bit integer ids exact', () => {
    for (const id of ['12345678901234567890', '18446744073709551615', '-9223372036854775808', '9223372036854775807']) {
      assert.equal(serializeQemu(parse(id)), id);
    }
    assert.equal(serializeQemu(12345678901234567890n), '12345678901234567890');
  });

  it('reformats numbers as QEMU does when it echoes them', () => {
    const pairs: [string, string][] = [
      ['18446744073709551616', '1.8446744073709552e+19'],
      ['-9223372036854775809', '-9.2233720368547758e+18'],
      ['1.0', '1'],
      ['0.1', '0.10000000000000001'],
      ['1.5e-7', '1.4999999999999999e-07'],
      ['-0', '0'],
      ['-0.0', '-0'],
      ['1e400', 'inf'],
      ['-1e400', '-inf'],
      ['1e-400', '0'],
      ['1E5', '100000'],
      ['2.5E+3', '2500'],
    ];
    for (const [input, output] of pairs) assert.equal(serializeQemu(parse(input)), output, input);
  });

  it('uses ", " and ": " separators and {} / [] for empty containers', () => {
    assert.equal(serializeQemu(parse('[1,"x",null,true,false,{},[]]')), '[1, "x", null, true, false, {}, []]');
  });

  it('prints object members in QDict hash order at every level', () => {
    assert.equal(serializeQemu(parse('{"b":1,"a":2}')), '{"a": 2, "b": 1}');
    assert.equal(serializeQemu(parse('{"z":{"y":[{"b":1,"a":2}]}}')), '{"z": {"y": [{"a": 2, "b": 1}]}}');
    assert.equal(
      serializeQemu(parse('{"execute":1,"id":2,"arguments":3,"timestamp":4,"event":5,"data":6,"fd":7,"fdset-id":8,"return":9,"error":10,"class":11,"desc":12}')),
      '{"timestamp": 4, "fd": 7, "class": 11, "execute": 1, "event": 5, "desc": 12, "return": 9, "arguments": 3, "fdset-id": 8, "id": 2, "error": 10, "data": 6}',
    );
  });

  it('puts the most recently inserted key first within one bucket (k10, k11, k12 share one)', () => {
    assert.equal(serializeQemu(parse('{"k10":1,"k11":2,"k12":3}')), '{"k12": 3, "k11": 2, "k10": 1}');
    assert.equal(serializeQemu(parse('{"k12":1,"k10":2,"k11":3}')), '{"k11": 3, "k10": 2, "k12": 1}');
  });

  it('hashes keys over their modified UTF-8 bytes', () => {
    assert.equal(
      serializeQemu(parse('{"\xc3\xa9":1,"\\u0000":2,"\xf0\x9f\x98\x80":3,"a":4,"b\xc0\x80":5}')),
      '{"\\u00E9": 1, "\\u0000": 2, "a": 4, "b\\u0000": 5, "\\uD83D\\uDE00": 3}',
    );
  });

  it('re-escapes strings', () => {
    assert.equal(serializeQemu(parse('"\\u00e9\xc3\xa9\\/\\ud83d\\ude00"')), '"\\u00E9\\u00E9/\\uD83D\\uDE00"');
  });

  it('reproduces QEMU 7.2\'s greeting from plain JS built in schema order', () => {
    // "minor" and "micro" share a bucket; QEMU inserts major, minor, micro, so micro prints first.
    const greeting = {
      QMP: {
        version: { qemu: { major: 7, minor: 2, micro: 22 }, package: 'Debian 1:7.2+dfsg-7+deb12u18+b3' },
        capabilities: ['oob'],
      },
    };
    assert.equal(
      serializeQemu(greeting),
      '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}',
    );
  });

  it('serializes plain numbers: safe integers exactly, anything else with %.17g, bigint exactly', () => {
    assert.equal(serializePlain([1, -7, 1.5, 0.1, 2 ** 53, 1e21, -0, NaN, 18446744073709551615n]), '[1, -7, 1.5, 0.10000000000000001, 9007199254740992, 1e+21, 0, nan, 18446744073709551615]');
  });

  it('orders plain object keys like QDict and skips undefined members', () => {
    assert.equal(serializePlain({ b: 1, a: 2, c: undefined } as unknown as { [k: string]: number }), '{"a": 2, "b": 1}');
    assert.equal(serializePlain({ return: {}, id: 'x' }), '{"return": {}, "id": "x"}');
    assert.equal(serializePlain({ error: { desc: 'd', class: 'GenericError' }, id: 1 }), '{"id": 1, "error": {"class": "GenericError", "desc": "d"}}');
    assert.equal(serializePlain({ data: {}, event: 'STOP', timestamp: { microseconds: 2, seconds: 1 } }), '{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP", "data": {}}');
    assert.equal(serializePlain({ 'fdset-id': 0, fd: 16 }), '{"fd": 16, "fdset-id": 0}');
  });

  it('rejects values JSON cannot hold', () => {
    assert.throws(() => serializePlain((() => 1) as unknown as number), TypeError);
  });

  it('treats a top-level value with a node shape as a JsonNode', () => {
    const node: JsonNode = { kind: 'int', start: 0, end: 1, value: 5n };
    assert.equal(serializeQemu(node), '5');
    assert.equal(serializeNode(node), '5');
    const notANode = { kind: 'x', start: 0, end: 1 };
    assert.equal(serializeQemu(notANode), serializePlain(notANode));
    assert.match(serializeQemu(notANode), /"kind": "x"/);
  });

  it('keeps the last value of a repeated key in a hand-built node, at its first position', () => {
    const node: JsonNode = {
      kind: 'object',
      start: 0,
      end: 0,
      members: [
        { key: 'b', value: { kind: 'int', start: 0, end: 0, value: 1n } },
        { key: 'a', value: { kind: 'int', start: 0, end: 0, value: 2n } },
        { key: 'b', value: { kind: 'int', start: 0, end: 0, value: 3n } },
      ],
    };
    assert.equal(serializeNode(node), '{"a": 2, "b": 3}');
  });
});

describe('toPlain', () => {
  it('turns ints into numbers when safe and bigints otherwise, doubles into numbers', () => {
    assert.deepEqual(toPlain(parse('{"a":[1,-2,9007199254740991,9007199254740992,12345678901234567890,1.5,1e400,"s",true,null],"b":{}}')), {
      a: [1, -2, 9007199254740991, 9007199254740992n, 12345678901234567890n, 1.5, Infinity, 's', true, null],
      b: {},
    });
  });

  it('keeps a "__proto__" member as an own property', () => {
    const plain = toPlain(parse('{"__proto__":{"x":1}}')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(plain), ['__proto__']);
    assert.equal(Object.getPrototypeOf(plain), Object.prototype);
  });

  it('round-trips through serializePlain to the same text as the node', () => {
    const node = parse('{"id":12345678901234567890,"x":[0.1,"\\u00e9",{"b":null,"a":false}]}');
    assert.equal(serializePlain(toPlain(node)), serializeNode(node));
  });
});
