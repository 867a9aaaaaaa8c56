/**
 * The framer: QEMU 7.2's lexer + streamer + parser, fed with bytes directly.
 * Every expected error text and event count below was checked against a
 * real QEMU 7.2.22 (the same streams are in fixtures/qemu-7.2-replies.json).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { QmpFramer, QMP_LIMITS, type FrameEvent, type JsonNode } from '../src/index.ts';
import { bin, comparable, feed } from './helpers/qemu.ts';

const framer = (opts = {}) => new QmpFramer(opts);
const events = (input: string | Buffer, opts = {}) => framer(opts).push(typeof input === 'string' ? bin(input) : input);
const errors = (input: string | Buffer, opts = {}) =>
  events(input, opts).map((e) => (e.type === 'error' ? e.desc : e.type === 'message' ? `<message ${e.raw.toString('latin1')}>` : '<oversize>'));
const messages = (input: string) =>
  events(input).map((e) => {
    assert.equal(e.type, 'message');
    return (e as Extract<FrameEvent, { type: 'message' }>).raw.toString('latin1');
  });
const root = (input: string): JsonNode => {
  const evs = events(input);
  assert.equal(evs.length, 1);
  const e = evs[0]!;
  assert.equal(e.type, 'message', e.type === 'error' ? e.desc : e.type);
  return (e as Extract<FrameEvent, { type: 'message' }>).root;
};

describe('framing', () => {
  it('splits back-to-back objects into two messages', () => {
    assert.deepEqual(messages('{"execute":"stop"}{"execute":"cont"}'), ['{"execute":"stop"}', '{"execute":"cont"}']);
  });

  it('does not frame by newlines: one message may span lines, and whitespace between messages is excluded from raw', () => {
    assert.deepEqual(messages(' \r\n{"execute":\n"x"}\t\n {"a":1}\n'), ['{"execute":\n"x"}', '{"a":1}']);
  });

  it('makes a top-level scalar a message of its own', () => {
    assert.deepEqual(messages('"s" true [] 7 '), ['"s"', 'true', '[]', '7']);
  });

  it('needs one more byte to end a number or keyword', () => {
    const f = framer();
    assert.deepEqual(f.push(bin('42')), []);
    assert.equal(f.pendingBytes, 2);
    assert.deepEqual(comparable(f.push(bin(' '))), [{ type: 'message', raw: '42', root: { kind: 'int', start: 0, end: 2, value: 42n } }]);
    assert.equal(f.pendingBytes, 0);
  });

  it('lexes true followed by null as the single keyword truenull', () => {
    const f = framer();
    assert.deepEqual(f.push(bin('true')), []);
    assert.deepEqual(comparable(f.push(bin('null '))), [{ type: 'error', desc: "JSON parse error, invalid keyword 'truenull'" }]);
  });

  it('returns one event per next() call, leaving a lookahead byte unconsumed', () => {
    const f = framer();
    const chunk = bin('1}');
    const first = f.next(chunk);
    assert.equal(first.offset, 1);
    assert.equal(first.event?.type, 'message');
    const second = f.next(chunk, first.offset);
    assert.deepEqual(second, { offset: 2, event: { type: 'error', desc: 'JSON parse error, expecting value' } });
  });

  it('returns event null and the chunk length when the chunk runs out first', () => {
    const f = framer();
    assert.deepEqual(f.next(bin('  {"execute"')), { offset: 12, event: null });
    assert.equal(f.pendingBytes, 10);
    const r = f.next(bin('xx:"x"}yy'), 2);
    assert.equal(r.offset, 7);
    assert.equal(r.event?.type, 'message');
    assert.equal((r.event as Extract<FrameEvent, { type: 'message' }>).raw.toString(), '{"execute":"x"}');
  });

  it('returns a view of the chunk when the message lies in it, and a copy when it spans chunks', () => {
    const chunk = bin(' {"a":1}');
    const [inside] = events(chunk) as Extract<FrameEvent, { type: 'message' }>[];
    assert.ok(inside!.raw.buffer === chunk.buffer && inside!.raw.byteOffset === chunk.byteOffset + 1, 'a view');
    const f = framer();
    const a = bin('{"a"');
    const b = bin(':1}');
    f.push(a);
    const [spanning] = f.push(b) as Extract<FrameEvent, { type: 'message' }>[];
    a.fill(0x20);
    b.fill(0x20);
    assert.equal(spanning!.raw.toString(), '{"a":1}', 'a copy');
  });

  it('gives node offsets relative to raw', () => {
    const f = framer();
    f.push(bin('   {"execute": "x", '));
    const [ev] = f.push(bin('"id": [1, {"k": \'v\'}]}')) as Extract<FrameEvent, { type: 'message' }>[];
    const r = ev!.root;
    assert.equal(r.kind, 'object');
    if (r.kind !== 'object') return;
    const text = (n: JsonNode) => ev!.raw.toString('latin1', n.start, n.end);
    assert.equal(text(r), ev!.raw.toString('latin1'));
    assert.deepEqual(
      r.members.map((m) => [m.key, text(m.value)]),
      [
        ['execute', '"x"'],
        ['id', "[1, {\"k\": 'v'}]"],
      ],
    );
  });

  it('keeps the partial message across any number of chunks and reports it in pendingBytes', () => {
    const f = framer();
    assert.equal(f.pendingBytes, 0);
    f.push(bin('\n\n'));
    assert.equal(f.pendingBytes, 0);
    f.push(bin('{"exe'));
    f.push(bin('cute"'));
    f.push(bin(': '));
    assert.equal(f.pendingBytes, 12);
    assert.deepEqual(
      f.push(bin('"x"}')).map((e) => e.type),
      ['message'],
    );
    assert.equal(f.pendingBytes, 0);
  });

  it('reset() drops partial input, as QEMU does on disconnect', () => {
    const f = framer();
    f.push(bin('{"execute":"x"'));
    f.reset();
    assert.equal(f.pendingBytes, 0);
    assert.deepEqual(comparable(f.push(bin('}'))), [{ type: 'error', desc: 'JSON parse error, expecting value' }]);
  });

  it('reset() also ends error recovery', () => {
    const f = framer();
    assert.equal(f.push(bin('01 abc')).length, 1);
    f.reset();
    assert.deepEqual(comparable(f.push(bin('7 '))).length, 1);
  });
});

describe('values', () => {
  it('parses single-quoted strings and the \\\' escape in both quote styles', () => {
    const input = `{'a':'it\\'s', "b":"it\\'s", 'c':'say "hi"'}`;
    const r = root(input);
    assert.ok(r.kind === 'object');
    assert.deepEqual([r.start, r.end], [0, input.length]);
    assert.deepEqual(
      r.members.map((m) => [m.key, m.value.kind === 'string' ? m.value.value : null, input.slice(m.value.start, m.value.end)]),
      [
        ['a', "it's", `'it\\'s'`],
        ['b', "it's", `"it\\'s"`],
        ['c', 'say "hi"', `'say "hi"'`],
      ],
    );
  });

  it('decodes all escapes, \\u escapes and surrogate pairs', () => {
    const r = root(String.raw`["\"\\\/\b\f\n\r\t", "\u00e9\u00E9", "\ud83d\ude00", "\u0000"]`);
    assert.equal(r.kind, 'array');
    if (r.kind !== 'array') return;
    assert.deepEqual(
      r.items.map((n) => (n.kind === 'string' ? n.value : null)),
      ['"\\/\b\f\n\r\t', 'éé', '😀', '\0'],
    );
  });

  it('decodes UTF-8 and accepts the modified-UTF-8 pair C0 80 as U+0000', () => {
    const r = root('["\xc3\xa9\xf0\x9f\x98\x80", "a\xc0\x80b", "\xef\xbf\xbd"]');
    assert.equal(r.kind, 'array');
    if (r.kind !== 'array') return;
    assert.deepEqual(
      r.items.map((n) => (n.kind === 'string' ? n.value : null)),
      ['é😀', 'a\0b', '\ufffd'],
    );
  });

  it('keeps integers that fit int64 or uint64 exact and makes other numbers doubles', () => {
    const r = root('[12345678901234567890, 18446744073709551615, -9223372036854775808, 18446744073709551616, -9223372036854775809, -0, 1.0, 1e400, 2.5E+3]');
    assert.equal(r.kind, 'array');
    if (r.kind !== 'array') return;
    assert.deepEqual(
      r.items.map((n) => [n.kind, 'value' in n ? n.value : null]),
      [
        ['int', 12345678901234567890n],
        ['int', 18446744073709551615n],
        ['int', -9223372036854775808n],
        ['double', 18446744073709551616],
        ['double', -9223372036854775809],
        ['int', 0n],
        ['double', 1],
        ['double', Infinity],
        ['double', 2500],
      ],
    );
  });

  it('reads true, false and null', () => {
    assert.deepEqual(root('[true,false,null]'), {
      kind: 'array',
      start: 0,
      end: 17,
      items: [
        { kind: 'bool', start: 1, end: 5, value: true },
        { kind: 'bool', start: 6, end: 11, value: false },
        { kind: 'null', start: 12, end: 16 },
      ],
    });
  });
});

describe("parse errors with QEMU's exact descriptions (QMP-NOTES §1.2)", () => {
  const table: [string, string, string[]][] = [
    ['a missing value', '{"execute": }', ['JSON parse error, expecting value']],
    ['a trailing comma in a list', '[1,]', ['JSON parse error, expecting value']],
    ['a trailing comma in a dict', '{"a":1,}', ['JSON parse error, expecting value']],
    ['a stray }', '}', ['JSON parse error, expecting value']],
    ['a stray ]', ']', ['JSON parse error, expecting value']],
    ['a missing colon', '{"a" "b"}', ['JSON parse error, missing : in object pair']],
    ['a missing separator in a dict', '{"a":1 "b":2}', ['JSON parse error, expected separator in dict']],
    ['a missing separator in a list', '[1 2]', ['JSON parse error, expected separator in list']],
    ['a non-string key', '{5:1}', ['JSON parse error, key is not a string in object']],
    ['an unknown keyword', 'nul ', ["JSON parse error, invalid keyword 'nul'"]],
    ['another unknown keyword', 'foo\n', ["JSON parse error, invalid keyword 'foo'"]],
    ['a duplicate key', '{"a":1,"a":2}', ['JSON parse error, duplicate key']],
    ['an invalid escape', '"\\x"', ['JSON parse error, invalid escape sequence in string']],
    ['a lone lead surrogate', '"\\ud83d"', ['JSON parse error, \\ud83d is not a valid Unicode character']],
    ['a lone trail surrogate', '"\\udc00"', ['JSON parse error, \\udc00 is not a valid Unicode character']],
    ['a lead surrogate followed by a non-surrogate escape', '"\\ud83d\\u0041"', ['JSON parse error, \\ud83d is not a valid Unicode character']],
    ['a short \\u escape (the text runs past the quote)', '"\\u12" ', ['JSON parse error, \\u12" is not a valid Unicode character']],
    ['a non-hex \\u escape', '"\\u12G4"', ['JSON parse error, \\u12G4 is not a valid Unicode character']],
    ['an escaped noncharacter', '"\\uFFFE"', ['JSON parse error, \\uFFFE is not a valid Unicode character']],
    ['a \\u escape whose text ends mid UTF-8', '"\\uabc\xc3\xa9"', ['JSON parse error, \\uabc\ufffd is not a valid Unicode character']],
    ['invalid UTF-8 (bad continuation)', '"\xc3\x28"', ['JSON parse error, invalid UTF-8 sequence in string']],
    ['invalid UTF-8 (encoded surrogate)', '"\xed\xa0\x80"', ['JSON parse error, invalid UTF-8 sequence in string']],
    ['invalid UTF-8 (encoded noncharacter)', '"\xef\xbf\xbe"', ['JSON parse error, invalid UTF-8 sequence in string']],
    ['invalid UTF-8 (overlong)', '"\xc1\xbf"', ['JSON parse error, invalid UTF-8 sequence in string']],
    ['invalid UTF-8 (0xFD, which the lexer passes)', '"a\xfdb"', ['JSON parse error, invalid UTF-8 sequence in string']],
    ['a leading zero', '01', ["JSON parse error, stray '01'"]],
    ['a fraction without digits', '1. ', ["JSON parse error, stray '1. '"]],
    ['a fraction without digits before }', '{"a":1.}', ["JSON parse error, stray '1.}'"]],
    ['a lone minus', '- ', ["JSON parse error, stray '- '"]],
    ['a plus sign', '+1 ', ["JSON parse error, stray '+'"]],
    ['Infinity', 'Infinity ', ["JSON parse error, stray 'I'"]],
    ['an interpolation', '%d ', ["JSON parse error, stray '%'"]],
    ['an exponent without digits', '1e+x', ["JSON parse error, stray '1e+x'"]],
    ['a control byte', '\x01', ["JSON parse error, stray '\u0001'"]],
    ['a NUL byte', '\x00', ["JSON parse error, stray ''"]],
    ['a 0xFF byte', '\xff', ["JSON parse error, stray '\ufffd'"]],
    ['a 0xFE byte', '\xfe', ["JSON parse error, stray '\ufffd'"]],
    ['a raw tab in a string', '"a\tb"', ["JSON parse error, stray '\"a\t'"]],
    ['a raw newline in a string (the rest up to the next structural byte is skipped)', '"a\nb" ', ["JSON parse error, stray '\"a\n'"]],
    ['a control byte after UTF-8 and a noncharacter', '"ab\xc3\xa9\xef\xb7\x90\x01', ["JSON parse error, stray '\"ab\u00e9\ufffd\u0001'"]],
    ['a control byte after a backslash', '"a\\\x01', ["JSON parse error, stray '\"a\\\u0001'"]],
  ];
  for (const [what, input, expected] of table) {
    it(`rejects ${what}`, () => assert.deepEqual(errors(input), expected));
  }

  it('cuts an invalid-keyword message like QEMU\'s 1024-byte buffer', () => {
    const [desc] = errors('a'.repeat(1500) + ' ');
    assert.equal(desc, "JSON parse error, invalid keyword '" + 'a'.repeat(1023 - "invalid keyword '".length));
  });

  it('quotes a long stray token in full', () => {
    assert.deepEqual(errors('"' + 'x'.repeat(300) + '\x02'), [`JSON parse error, stray '"${'x'.repeat(300)}\u0002'`]);
  });

  it('reports the first error in source order', () => {
    assert.deepEqual(errors('{"a":{"b":1,"b":2}, "c" "d"}'), ['JSON parse error, duplicate key']);
    assert.deepEqual(errors('{{"a":nul}:1}'), ["JSON parse error, invalid keyword 'nul'"]);
    assert.deepEqual(errors('{"a":1,"a":}'), ['JSON parse error, expecting value']);
  });
});

describe('error recovery and cascades', () => {
  it('turns {"execute":"x","id":01} into 2 errors: the stray token, then the lone }', () => {
    assert.deepEqual(errors('{"execute":"x","id":01}'), ["JSON parse error, stray '01'", 'JSON parse error, expecting value']);
  });

  it('resynchronizes with exactly one error when a partial object is followed by \\x01 or 0xFF', () => {
    assert.deepEqual(errors('{"execute":"x","arguments":{"a":\x01{"execute":"y"}'), [
      "JSON parse error, stray '\u0001'",
      '<message {"execute":"y"}>',
    ]);
    assert.deepEqual(errors('{"execute":"x","arguments":[1,\xff{"execute":"y"}'), [
      "JSON parse error, stray '\ufffd'",
      '<message {"execute":"y"}>',
    ]);
    assert.deepEqual(errors('{"execute":"x","id":"abc\xff{"execute":"y"}'), [
      "JSON parse error, stray '\"abc\ufffd'",
      '<message {"execute":"y"}>',
    ]);
  });

  it('runs the command after garbage: invalid keyword, then the message', () => {
    assert.deepEqual(errors('garbage{"execute":"x"}'), ["JSON parse error, invalid keyword 'garbage'", '<message {"execute":"x"}>']);
  });

  it('reports a UTF-8 BOM as a stray byte', () => {
    assert.deepEqual(errors('\xef\xbb\xbf{"execute":"x"}'), ["JSON parse error, stray '\ufffd'", '<message {"execute":"x"}>']);
  });

  it('skips after a lexical error up to a structural byte, control byte (not TAB) or 0xFE/0xFF', () => {
    assert.deepEqual(errors('01 garbage "stuff" 99\n{"execute":"x"}'), ["JSON parse error, stray '01'", '<message {"execute":"x"}>']);
    assert.deepEqual(errors('01\t{"execute":"x"}'), ["JSON parse error, stray '01'", '<message {"execute":"x"}>']);
    assert.deepEqual(errors('01 abc\x01{"execute":"x"}'), ["JSON parse error, stray '01'", "JSON parse error, stray '\u0001'", '<message {"execute":"x"}>']);
  });

  it('ends a message on any negative count', () => {
    assert.deepEqual(errors('[}'), ['JSON parse error, expecting value']);
    assert.deepEqual(errors('{]'), ['JSON parse error, expecting value']);
    assert.deepEqual(errors('{"execute":"x"}}'), ['<message {"execute":"x"}>', 'JSON parse error, expecting value']);
    assert.deepEqual(errors('1}'), ['<message 1>', 'JSON parse error, expecting value']);
  });

  it('restarts at the raw control byte of a string', () => {
    assert.deepEqual(errors('{"execute":"a\nb"}'), ["JSON parse error, stray '\"a\n'", 'JSON parse error, expecting value']);
  });
});

describe('limits', () => {
  it('has QEMU\'s defaults', () => {
    assert.deepEqual({ ...QMP_LIMITS }, { maxMessageBytes: 1048576, maxDepth: 1024, maxTokens: 2097152, maxTokenBytes: 67108864 });
  });

  it('accepts nesting 1024 ({ and [ combined)', () => {
    assert.deepEqual(errors('['.repeat(1024) + ']'.repeat(1024)).map((e) => e.slice(0, 9)), ['<message '] );
    const mixed = '{"a":['.repeat(512) + ']}'.repeat(512);
    assert.equal(events(mixed)[0]?.type, 'message');
  });

  it('rejects nesting 1025 with one depth error and then 1025 expecting-value errors', () => {
    const out = errors('['.repeat(1025) + ']'.repeat(1025));
    assert.equal(out.length, 1026);
    assert.equal(out[0], 'JSON nesting depth limit exceeded');
    assert.ok(out.slice(1).every((d) => d === 'JSON parse error, expecting value'));
  });

  it('adds one more message for nesting 1026 (the innermost [] is parsed on its own)', () => {
    const out = errors('['.repeat(1026) + ']'.repeat(1026));
    assert.equal(out.length, 1027);
    assert.deepEqual(out.slice(0, 2), ['JSON nesting depth limit exceeded', '<message []>']);
    assert.ok(out.slice(2).every((d) => d === 'JSON parse error, expecting value'));
  });

  describe('at the real limits (each run against QEMU 7.2 too; QEMU needs minutes for these)', () => {
    const unlimited = { maxMessageBytes: Infinity };
    it('parses 2097152 tokens and rejects 2097153', () => {
      const n = 1048574; // [0,0,…,0,[]] = 2n + 4 tokens
      assert.deepEqual(errors('[' + '0,'.repeat(n) + '[]]', unlimited).map((e) => e.slice(0, 9)), ['<message ']);
      const m = 1048576; // [0,…,0] = 2m + 1 tokens; the 2097153rd is the final ]
      assert.deepEqual(errors('[' + '0,'.repeat(m - 1) + '0]', unlimited), ['JSON token count limit exceeded']);
    });

    it('parses a 67108863-byte string token and rejects a 67108864-byte one', () => {
      const mib64 = 64 << 20;
      const ok = events(Buffer.from('"' + 'a'.repeat(mib64 - 3) + '"'), unlimited);
      assert.deepEqual(ok.map((e) => e.type), ['message']);
      assert.deepEqual(errors(Buffer.from('"' + 'a'.repeat(mib64 - 2) + '"'), unlimited), ['JSON token size limit exceeded']);
    });

    it('cuts an unterminated string after 64 MiB + 1 bytes and lexes the rest anew', () => {
      const input = Buffer.from('"' + 'a'.repeat((64 << 20) + 5) + '" x"');
      assert.deepEqual(errors(input, unlimited), ['JSON token size limit exceeded', "JSON parse error, invalid keyword 'aaaaa'", '<message " x">']);
    });

    it('counts the token text of the whole message', () => {
      const half = 32 << 20;
      const input = Buffer.from('{"' + 'a'.repeat(half - 4) + '":"' + 'b'.repeat(half - 2) + '"}');
      assert.deepEqual(errors(input, unlimited), ['JSON token size limit exceeded', 'JSON parse error, expecting value']);
    });
  });

  it('applies a configured depth limit the same way', () => {
    assert.deepEqual(errors('[[[]]]', { maxDepth: 3 }), ['<message [[[]]]>']);
    assert.deepEqual(errors('[[[[]]]]', { maxDepth: 3 }), [
      'JSON nesting depth limit exceeded',
      'JSON parse error, expecting value',
      'JSON parse error, expecting value',
      'JSON parse error, expecting value',
      'JSON parse error, expecting value',
    ]);
  });

  it('counts tokens like QEMU: a message may hold exactly maxTokens tokens', () => {
    // QEMU 7.2 checked at the real limit: 2097152 tokens parse, 2097153 give this error.
    assert.deepEqual(errors('[1,2]', { maxTokens: 5 }), ['<message [1,2]>']);
    // The 6th token (3) is rejected and dropped; the ] that follows is then a message of its own.
    assert.deepEqual(errors('[1,2,3]', { maxTokens: 5 }), ['JSON token count limit exceeded', 'JSON parse error, expecting value']);
  });

  it('limits the total token text of a message to less than maxTokenBytes (QEMU counts one extra byte)', () => {
    // QEMU 7.2 checked at the real limit: a 67108863-byte string parses, a 67108864-byte one is rejected.
    assert.deepEqual(errors('"abcdefg"', { maxTokenBytes: 10 }), ['<message "abcdefg">']);
    assert.deepEqual(errors('"abcdefgh"', { maxTokenBytes: 10 }), ['JSON token size limit exceeded']);
    // Whitespace is not token text: 11 bytes of tokens pass a limit of 12, not one of 11.
    assert.deepEqual(errors('[ "ab" , "cd" ]', { maxTokenBytes: 12 }), ['<message [ "ab" , "cd" ]>']);
    assert.deepEqual(errors('[ "ab" , "cd" ]', { maxTokenBytes: 11 }), ['JSON token size limit exceeded']);
    // A rejected inner token leaves the rest of the message to be lexed as new input.
    assert.deepEqual(errors('["abc","defgh"]', { maxTokenBytes: 12 }), ['JSON token size limit exceeded', 'JSON parse error, expecting value']);
  });

  it('cuts a single over-long token and lexes the rest of it as new input', () => {
    // The lexer flushes a token longer than the limit; lexing restarts from scratch.
    assert.deepEqual(errors('"' + 'a'.repeat(14) + '" x"', { maxTokenBytes: 10 }), [
      'JSON token size limit exceeded',
      "JSON parse error, invalid keyword 'aaaa'",
      '<message " x">',
    ]);
  });

  it('reports oversize once when a message exceeds maxMessageBytes, then ignores input until reset()', () => {
    const f = framer({ maxMessageBytes: 16 });
    assert.deepEqual(comparable(f.push(bin('{"execute":"1234"}{"a":1}'))), [{ type: 'oversize', limit: 16 }]);
    assert.deepEqual(f.push(bin('{"a":1}')), []);
    f.reset();
    assert.equal(f.push(bin('{"a":1}'))[0]?.type, 'message');
  });

  it('reports oversize as soon as the limit is passed, without waiting for the message to end', () => {
    const f = framer({ maxMessageBytes: 8 });
    const r = f.next(bin('  {"abcdefgh'));
    // the 9th message byte is at index 10
    assert.deepEqual(r, { offset: 11, event: { type: 'oversize', limit: 8 } });
  });

  it('accepts a message of exactly maxMessageBytes, not counting whitespace before it or a terminating lookahead byte', () => {
    assert.deepEqual(errors('   {"execute":"1234567"}', { maxMessageBytes: 21 }), ['<message {"execute":"1234567"}>']);
    assert.deepEqual(errors('  12345678 ', { maxMessageBytes: 8 }), ['<message 12345678>']);
    assert.deepEqual(errors('  123456789 ', { maxMessageBytes: 8 }), ['<oversize>']);
  });

  it('counts whitespace inside a message toward maxMessageBytes', () => {
    assert.deepEqual(errors('{' + ' '.repeat(20) + '}', { maxMessageBytes: 16 }), ['<oversize>']);
  });

  it('does not count input skipped in error recovery', () => {
    assert.deepEqual(errors('01' + 'x'.repeat(100) + '\n{"a":1}', { maxMessageBytes: 16 }), ["JSON parse error, stray '01'", '<message {"a":1}>']);
  });
});

describe('allowNonFinite (parsing QEMU output)', () => {
  it('reads bare inf, -inf and nan as doubles', () => {
    const [ev] = events('{"a": inf, "b": -inf, "c": nan}', { allowNonFinite: true });
    assert.equal(ev?.type, 'message');
    const r = (ev as Extract<FrameEvent, { type: 'message' }>).root;
    assert.ok(r.kind === 'object');
    assert.deepEqual(
      r.members.map((m) => [m.key, m.value.kind, m.value.kind === 'double' ? m.value.value : null]),
      [
        ['a', 'double', Infinity],
        ['b', 'double', -Infinity],
        ['c', 'double', NaN],
      ],
    );
  });

  it('rejects them by default, as QEMU does on input', () => {
    assert.deepEqual(errors('[inf]'), ["JSON parse error, invalid keyword 'inf'"]);
    assert.deepEqual(errors('[-inf]'), ["JSON parse error, stray '-i'", 'JSON parse error, expecting value']);
  });

  it('still rejects other words', () => {
    assert.deepEqual(errors('[infinity]', { allowNonFinite: true }), ["JSON parse error, invalid keyword 'infinity'"]);
  });
});

describe('chunking', () => {
  const stream = bin(
    [
      '{"execute":"no-such-a"}',
      '\r\n',
      "{'execute':'no-such-b','id':12345678901234567890}",
      '{"execute":"x","id":01}',
      'garbage',
      '{"execute":"y","arguments":{"s":"\xc3\xa9\\ud83d\\ude00","n":[1.5e-7,-0,true,null]}}',
      '42 "str"',
      '{"a":\x01',
      '[[[]]]',
      '{"execute":"z"}',
      '  7',
    ].join(''),
  );
  const whole = comparable(feed([stream]));

  it('has a reference run with messages and errors', () => {
    assert.deepEqual(
      whole.map((e) => (e as { type: string }).type),
      ['message', 'message', 'error', 'error', 'error', 'message', 'message', 'message', 'error', 'message', 'message'],
    );
  });

  it('gives identical events for every split into two chunks', () => {
    for (let k = 0; k <= stream.length; k++) {
      assert.deepEqual(comparable(feed([stream.subarray(0, k), stream.subarray(k)])), whole, `split at ${k}`);
    }
  });

  it('gives identical events when fed one byte at a time', () => {
    const pieces = [];
    for (let i = 0; i < stream.length; i++) pieces.push(stream.subarray(i, i + 1));
    assert.deepEqual(comparable(feed(pieces)), whole);
  });

  it('gives identical events for random chunkings, with copies of the input so no chunk is reused', () => {
    let seed = 12345;
    const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    for (let round = 0; round < 200; round++) {
      const pieces: Buffer[] = [];
      for (let i = 0; i < stream.length; ) {
        const len = 1 + rand(12);
        pieces.push(Buffer.from(stream.subarray(i, i + len)));
        i += len;
      }
      assert.deepEqual(comparable(feed(pieces)), whole);
    }
  });

  it('gives identical events when next() is driven by hand at every offset', () => {
    const f = new QmpFramer();
    const out: FrameEvent[] = [];
    for (let i = 0; i < stream.length; i++) {
      const chunk = stream.subarray(i, i + 1);
      let off = 0;
      while (off < chunk.length) {
        const r = f.next(chunk, off);
        assert.ok(r.offset > off || r.event !== null, 'next() makes progress');
        off = r.offset;
        if (r.event) out.push(r.event);
      }
    }
    assert.deepEqual(comparable(out), whole);
  });
});
