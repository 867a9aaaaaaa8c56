import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Lexer, type QValue } from '../src/index.ts';
import { assertQapiError, parseVirtual, resolveVirtual } from './helpers.ts';

function stringValue(v: QValue): string {
  assert.equal(v.kind, 'string');
  return v.kind === 'string' ? v.value : '';
}

describe('lexer', () => {
  function tokens(src: string): string[] {
    const lx = new Lexer(src, 'x.json');
    const out: string[] = [];
    for (let t = lx.next(); t.kind !== 'eof'; t = lx.next()) {
      out.push(t.kind === 'string' ? `'${t.text}'` : t.kind === 'bool' ? String(t.bool) : t.kind === '#' ? t.text : t.kind);
    }
    return out;
  }

  it('reads single-quoted strings, true/false and punctuation, skipping # comments', () => {
    assert.deepEqual(tokens("{ 'a': [ true, false ] } # comment\n{'b':{}}"), [
      '{', "'a'", ':', '[', 'true', ',', 'false', ']', '}', '{', "'b'", ':', '{', '}', '}',
    ]);
  });

  it('accepts \\\\ as the only escape', () => {
    assert.deepEqual(tokens("'a\\\\b'"), ["'a\\b'"]);
  });

  it('returns ## lines, which open documentation comments', () => {
    assert.deepEqual(tokens('# plain\n##\n'), ['##']);
  });

  it('tracks line and column across lines', () => {
    const lx = new Lexer("\n\n   'x'", 'f.json');
    const t = lx.next();
    assert.deepEqual([t.info.line, t.info.col], [3, 4]);
  });
});

describe('syntax errors carry file:line:col', () => {
  const cases: [string, string, string][] = [
    ['double quotes', `{ 'enum': 'E',\n  'data': [ "a" ] }\n`, `/s/a.json:2:13: stray '"a"'`],
    ['unterminated string', `{ 'struct': 'S }\n`, `/s/a.json:1:13: missing terminating "'"`],
    ['unknown escape', `{ 'struct': 'S\\n' }\n`, '/s/a.json:1:15: unknown escape \\n'],
    ['non-ASCII in a string', `{ 'struct': 'Sé' }\n`, '/s/a.json:1:15: funny character in string'],
    ['null is not a value', `{ 'struct': null }\n`, "/s/a.json:1:13: stray 'null'"],
    ['numbers are not values', `{ 'struct': 42 }\n`, "/s/a.json:1:13: stray '42'"],
    ['duplicate key', `{ 'struct': 'S',\n  'data': {},\n  'data': {} }\n`, "/s/a.json:3:3: duplicate key 'data'"],
    ['missing comma', `{ 'struct': 'S' 'data': {} }\n`, "/s/a.json:1:17: expected ',' or '}', got string 'data'"],
    ['missing colon', `{ 'struct' 'S' }\n`, "/s/a.json:1:12: expected ':', got string 'S'"],
    ['unclosed array', `{ 'enum': 'E', 'data': [ 'a' }\n`, "/s/a.json:1:30: expected ',' or ']', got '}'"],
    ['trailing comma', `{ 'enum': 'E', 'data': [ 'a', ] }\n`, "/s/a.json:1:31: expected value, got ']'"],
    ['end of file inside an object', `{ 'struct': 'S',\n`, '/s/a.json:2:1: expected string key, got end of file'],
    ['top-level array', `[ 'a' ]\n`, '/s/a.json:1:1: top-level expression must be an object, not an array'],
  ];
  for (const [what, src, message] of cases) {
    it(what, () => {
      assertQapiError(() => parseVirtual({ '/s/a.json': src }), message, 'QAPI_SYNTAX');
    });
  }
});

describe('include', () => {
  it('is relative to the including file and expands in place', () => {
    const p = parseVirtual({
      '/s/root.json': "{ 'enum': 'A', 'data': [] }\n{ 'include': 'sub/b.json' }\n{ 'enum': 'C', 'data': [] }\n",
      '/s/sub/b.json': "{ 'include': 'c.json' }\n{ 'enum': 'B', 'data': [] }\n",
      '/s/sub/c.json': "{ 'enum': 'D', 'data': [] }\n",
    });
    assert.deepEqual(p.exprs.map((e) => stringValue(e.expr.entries.get('enum')!.value)), ['A', 'D', 'B', 'C']);
    assert.deepEqual(p.files, ['/s/root.json', '/s/sub/b.json', '/s/sub/c.json']);
    const d = p.exprs[1]!.expr.info;
    assert.deepEqual([d.file, d.line, d.includedFrom?.file, d.includedFrom?.includedFrom?.file], ['/s/sub/c.json', 1, '/s/sub/b.json', '/s/root.json']);
  });

  it('is idempotent: a file included twice is read once', () => {
    let reads = 0;
    const files: Record<string, string> = {
      '/s/root.json': "{ 'include': 'a.json' }\n{ 'include': 'b.json' }\n{ 'include': 'a.json' }\n",
      '/s/a.json': "{ 'enum': 'Alpha', 'data': [ 'x' ] }\n",
      '/s/b.json': "{ 'include': 'a.json' }\n{ 'struct': 'Beta', 'data': { 'a': 'Alpha' } }\n",
    };
    const p = parseVirtual(new Proxy(files, { get: (t, k: string) => (k === '/s/a.json' && reads++, t[k]) }));
    assert.equal(reads, 1);
    assert.equal(p.exprs.length, 2);
    assert.deepEqual(p.includes.map((i) => [i.file, i.loaded]), [
      ['/s/a.json', true],
      ['/s/b.json', true],
      ['/s/a.json', false],
      ['/s/a.json', false],
    ]);
    const m = resolveVirtual(files);
    assert.deepEqual([...m.types.keys()].filter((n) => n === 'Alpha' || n === 'Beta'), ['Alpha', 'Beta']);
  });

  it('refuses a loop, naming the include chain', () => {
    assertQapiError(
      () => parseVirtual({
        '/s/root.json': "{ 'include': 'a.json' }\n",
        '/s/a.json': "\n{ 'include': 'b.json' }\n",
        '/s/b.json': "{ 'enum': 'B', 'data': [] }\n{ 'include': './a.json' }\n",
      }),
      [
        'In file included from /s/root.json:1:1:',
        'In file included from /s/a.json:2:1:',
        '/s/b.json:2:14: inclusion loop for ./a.json',
      ].join('\n'),
      'QAPI_INCLUDE',
    );
  });

  it('refuses a file including itself', () => {
    assertQapiError(() => parseVirtual({ '/s/root.json': "{ 'include': 'root.json' }\n" }), '/s/root.json:1:14: inclusion loop for root.json');
  });

  it('reports a missing file at the include', () => {
    assertQapiError(
      () => parseVirtual({ '/s/root.json': "\n  { 'include': 'nope.json' }\n" }),
      /^\/s\/root\.json:2:16: can't read include file '\/s\/nope\.json': ENOENT/,
      'QAPI_INCLUDE',
    );
  });

  it('must be alone and name a string', () => {
    assertQapiError(() => parseVirtual({ '/s/r.json': "{ 'include': 'a.json', 'x': 'y' }\n" }), "/s/r.json:1:24: invalid 'include' directive: unexpected key 'x'");
    assertQapiError(() => parseVirtual({ '/s/r.json': "{ 'include': ['a.json'] }\n" }), "/s/r.json:1:14: value of 'include' must be a string, not an array");
  });

  it('reports errors inside an included file with the chain', () => {
    assertQapiError(
      () => parseVirtual({ '/s/root.json': "{ 'include': 'a.json' }\n", '/s/a.json': "{ 'enum': 'E', 'data': [ 'a' 'b' ] }\n" }),
      "In file included from /s/root.json:1:1:\n/s/a.json:1:30: expected ',' or ']', got string 'b'",
    );
  });
});

describe('pragma', () => {
  it('sets doc-required and the exception lists', () => {
    const p = parseVirtual({
      '/s/r.json': "{ 'pragma': { 'doc-required': true } }\n{ 'pragma': { 'command-name-exceptions': [ 'a_b' ], 'command-returns-exceptions': [ 'c' ] } }\n",
    });
    assert.equal(p.pragma.docRequired, true);
    assert.deepEqual(p.pragma.commandNameExceptions, ['a_b']);
    assert.deepEqual(p.pragma.commandReturnsExceptions, ['c']);
  });

  it('refuses unknown pragmas and bad values', () => {
    assertQapiError(() => parseVirtual({ '/s/r.json': "{ 'pragma': { 'doc-optional': true } }\n" }), "/s/r.json:1:15: unknown pragma 'doc-optional'");
    assertQapiError(() => parseVirtual({ '/s/r.json': "{ 'pragma': { 'doc-required': 'yes' } }\n" }), "/s/r.json:1:31: pragma 'doc-required' must be boolean");
    assertQapiError(() => parseVirtual({ '/s/r.json': "{ 'pragma': { 'member-name-exceptions': [ true ] } }\n" }), "/s/r.json:1:41: pragma 'member-name-exceptions' must be a list of strings");
  });

  it('drives naming and return rules', () => {
    const cmd = "{ 'command': 'do_it', 'returns': 'str' }\n";
    assertQapiError(() => resolveVirtual({ '/s/r.json': cmd }), "/s/r.json:1:14: name of command 'do_it' must not use '_'");
    assertQapiError(
      () => resolveVirtual({ '/s/r.json': `{ 'pragma': { 'command-name-exceptions': [ 'do_it' ] } }\n${cmd}` }),
      /^\/s\/r\.json:2:34: command 'do_it' cannot return 'str'/,
    );
    const m = resolveVirtual({ '/s/r.json': `{ 'pragma': { 'command-name-exceptions': [ 'do_it' ], 'command-returns-exceptions': [ 'do_it' ] } }\n${cmd}` });
    assert.equal(m.commands.get('do_it')?.retType, 'str');
  });
});
