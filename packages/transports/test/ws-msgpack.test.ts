/** The qmp.msgpack framing, bytes in and out (no sockets). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Packr, Unpackr } from 'msgpackr';
import { MsgpackEncoder, WsCodecError, decodeMsgpackFrame } from '../src/ws-msgpack.ts';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: false, int64AsType: 'bigint' });

describe('qmp.msgpack, outgoing', () => {
  it('encodes one frame per message, integers beyond 2^53 as exact int64/uint64, members in wire order', () => {
    const enc = new MsgpackEncoder();
    const json = Buffer.from('{"return": {"b": 1, "a": 1.5, "1": null}, "id": 18446744073709551615}\r\n{"return": {}, "id": -9223372036854775808}\r\n');
    const frames = enc.encode(json);
    assert.equal(frames.length, 2);
    const first = unpackr.unpack(frames[0]!) as Map<string, unknown>;
    assert.deepEqual([...first.keys()], ['return', 'id']);
    assert.equal(first.get('id'), 18446744073709551615n);
    assert.deepEqual([...(first.get('return') as Map<string, unknown>).entries()], [['b', 1], ['a', 1.5], ['1', null]]);
    // uint64 marker 0xcf followed by eight 0xff: not a float.
    assert.ok(frames[0]!.includes(Buffer.from('cfffffffffffffffff', 'hex')));
    assert.equal((unpackr.unpack(frames[1]!) as Map<string, unknown>).get('id'), -9223372036854775808n);
  });

  it('keeps a message split across writes until it is whole, and QEMU doubles (inf) as floats', () => {
    const enc = new MsgpackEncoder();
    assert.deepEqual(enc.encode(Buffer.from('{"return": {"x": in')), []);
    const frames = enc.encode(Buffer.from('f}}\r\n'));
    assert.equal(frames.length, 1);
    assert.equal(((unpackr.unpack(frames[0]!) as Map<string, Map<string, number>>).get('return')!).get('x'), Infinity);
  });
});

describe('qmp.msgpack, incoming', () => {
  it('turns each value of a frame into QEMU-exact JSON text, 64-bit integers exact', () => {
    const frame = Buffer.concat([packr.pack({ execute: 'query-name', id: 18446744073709551615n }), packr.pack({ execute: 'cont', id: -(2n ** 63n) }), packr.pack(42)]);
    assert.equal(
      decodeMsgpackFrame(frame).toString(),
      '{"execute": "query-name", "id": 18446744073709551615}\n{"execute": "cont", "id": -9223372036854775808}\n42\n',
    );
  });

  it('escapes non-ASCII text as QEMU prints it and keeps a __proto__ key as data', () => {
    const m = new Map<string, unknown>([['execute', 'x'], ['arguments', new Map([['__proto__', 'é']])]]);
    assert.equal(decodeMsgpackFrame(packr.pack(m)).toString(), '{"execute": "x", "arguments": {"__proto__": "\\u00E9"}}\n');
  });

  it('refuses what JSON cannot hold and bytes that are not MessagePack', () => {
    const bad = [
      packr.pack({ execute: 'x', arguments: { blob: Buffer.from([1, 2]) } }),
      packr.pack(new Map<unknown, unknown>([[1, 'int key']])),
      packr.pack(new Date(0)),
      Buffer.from([0xc1]),
      packr.pack({ execute: 'query-status' }).subarray(0, 5),
    ];
    for (const b of bad) assert.throws(() => decodeMsgpackFrame(b), WsCodecError, b.toString('hex'));
  });

  it('refuses nesting far beyond QEMU limit without overflowing the stack', () => {
    const deep = Buffer.concat([Buffer.alloc(100_000, 0x91), Buffer.from([0x01])]); // [[[…[1]…]]]
    assert.throws(() => decodeMsgpackFrame(deep), WsCodecError);
    const fine = Buffer.concat([Buffer.alloc(1025, 0x91), Buffer.from([0x01])]);
    assert.equal(decodeMsgpackFrame(fine).toString(), '['.repeat(1025) + '1' + ']'.repeat(1025) + '\n', 'QEMU, not the codec, answers depth 1025');
  });
});
