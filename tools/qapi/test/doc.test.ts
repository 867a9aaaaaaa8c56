import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { QapiDoc } from '../src/index.ts';
import { assertQapiError, parseVirtual, resolveVirtual } from './helpers.ts';

/** Parse one doc comment followed by `def` and return its doc. */
function docOf(lines: string[], def = "{ 'command': 'frob', 'data': { 'fdname': 'str', '*count': 'int' }, 'features': [ 'deprecated' ] }"): QapiDoc {
  const p = parseVirtual({ '/d/s.json': `${lines.join('\n')}\n${def}\n` });
  const doc = p.exprs[0]?.doc;
  assert.ok(doc);
  return doc;
}

describe('definition documentation', () => {
  it('reads overview, members with 4-space continuation, features and tagged sections', () => {
    const doc = docOf([
      '##',
      '# @frob:',
      '#',
      '# Frobnicate a file descriptor.',
      '# Second line of the overview.',
      '#',
      '# @fdname: the name given by getfd, which may be',
      '#     rather long',
      '#',
      '#     and have a second paragraph',
      '#',
      '# @count: how many times',
      '#',
      '# Features:',
      '#',
      '# @deprecated: use something else',
      '#',
      '# Returns: nothing',
      '#',
      '# Errors:',
      '#     - If @fdname is unknown, GenericError',
      '#',
      '# Since: 9.1',
      '#',
      '# TODO: make it faster',
      '##',
    ]);
    assert.equal(doc.symbol, 'frob');
    assert.equal(doc.body, 'Frobnicate a file descriptor.\nSecond line of the overview.');
    assert.deepEqual([...doc.members], [
      ['fdname', 'the name given by getfd, which may be\nrather long\n\nand have a second paragraph'],
      ['count', 'how many times'],
    ]);
    assert.deepEqual([...doc.features], [['deprecated', 'use something else']]);
    assert.equal(doc.returns, 'nothing');
    assert.equal(doc.errors, '- If @fdname is unknown, GenericError');
    assert.equal(doc.since, '9.1');
    assert.equal(doc.todo, 'make it faster');
    assert.deepEqual(doc.sections.map((s) => s.kind), ['text', 'member', 'member', 'feature', 'tagged', 'tagged', 'tagged', 'tagged']);
  });

  it('reads 7.2-style continuation aligned with the text, and unindented continuation', () => {
    const doc = docOf([
      '##',
      '# @frob:',
      '# @fdname: The file descriptor that was received via SCM rights and',
      '#          added to the fd set.',
      '# @count: lost its indentation',
      '# but still belongs to count',
      '##',
    ]);
    assert.deepEqual([...doc.members], [
      ['fdname', 'The file descriptor that was received via SCM rights and\nadded to the fd set.'],
      ['count', 'lost its indentation\nbut still belongs to count'],
    ]);
  });

  it('reads 7.x Notes: and Example: sections, which run to the next section', () => {
    const doc = docOf([
      '##',
      '# @frob:',
      '#',
      '# Notes: first note',
      '#',
      '#        second paragraph of the note',
      '#',
      '# Since: 0.14',
      '#',
      '# Example:',
      '#',
      '# 1. Plain',
      '# -> { "execute": "frob", "arguments": { "fdname": "fd1" } }',
      '# <- { "return": {} }',
      '#',
      '# 2. With count',
      '# -> { "execute": "frob", "arguments": { "fdname": "fd1", "count": 2 } }',
      '# <- { "return": {} }',
      '#',
      '##',
    ]);
    assert.deepEqual(doc.notes, ['first note\n\nsecond paragraph of the note']);
    assert.equal(doc.examples.length, 1);
    const ex = doc.examples[0]!;
    assert.equal(ex.form, 'section');
    assert.equal(ex.text.split('\n').length, 7);
    assert.match(ex.text, /^1\. Plain\n-> \{ "execute": "frob"/);
    assert.match(ex.text, /2\. With count\n-> .*\n<- \{ "return": \{\} \}$/);
  });

  it('reads .. qmp-example:: with :title: and :annotated:, indented as in current QEMU', () => {
    const doc = docOf([
      '##',
      '# @frob:',
      '#',
      '# .. note:: This is a note',
      '#    spanning two lines.',
      '#',
      '# .. qmp-example::',
      '#    :title: Frobnicate twice',
      '#    :annotated:',
      '#',
      '#    First we frob:',
      '#',
      '#    ::',
      '#',
      '#      -> { "execute": "frob", "arguments": { "fdname": "fd1" } }',
      '#      <- { "return": {} }',
      '#',
      '# .. qmp-example::',
      '#',
      '#     -> { "execute": "frob",',
      '#          "arguments": { "fdname": "x" } }',
      '#     <- { "return": {} }',
      '#',
      '# Since: 9.2',
      '##',
    ]);
    assert.deepEqual(doc.notes, ['This is a note\nspanning two lines.']);
    assert.equal(doc.since, '9.2');
    assert.equal(doc.examples.length, 2);
    const [a, b] = doc.examples;
    assert.deepEqual({ form: a!.form, title: a!.title, annotated: a!.annotated }, { form: 'qmp-example', title: 'Frobnicate twice', annotated: true });
    assert.equal(a!.text, 'First we frob:\n\n::\n\n  -> { "execute": "frob", "arguments": { "fdname": "fd1" } }\n  <- { "return": {} }');
    assert.deepEqual({ title: b!.title, annotated: b!.annotated }, { title: undefined, annotated: false });
    assert.equal(b!.text, '-> { "execute": "frob",\n     "arguments": { "fdname": "x" } }\n<- { "return": {} }');
  });

  it('keeps unknown rST directives as text', () => {
    const doc = docOf(['##', '# @frob:', '#', '# Intro.', '#', '# .. table:: T', '#    :widths: auto', '#', '#    ===  ===', '##']);
    assert.equal(doc.body, 'Intro.\n\n.. table:: T\n   :widths: auto\n\n   ===  ===');
  });
});

describe('free-form documentation', () => {
  it('reads a heading and rST text', () => {
    const p = parseVirtual({ '/d/s.json': '##\n# = Block devices\n#\n# Some *text*.\n##\n' });
    assert.deepEqual(p.docs[0]!.heading, { level: 1, text: 'Block devices' });
    assert.equal(p.docs[0]!.body, 'Some *text*.');
    assert.equal(p.docs[0]!.symbol, undefined);
    assert.deepEqual(p.freeDocs.map((d) => d.beforeExpr), [0]);
  });
});

describe('doc comment errors carry file:line:col', () => {
  const def = "{ 'struct': 'Foo', 'data': { 'a': 'str' } }";
  const cases: [string, string, string][] = [
    ['junk after the opening ##', `## junk\n# @Foo:\n##\n${def}`, "/d/s.json:1:1: junk after '##' at start of documentation comment"],
    ['junk after the closing ##', `##\n# @Foo:\n## x\n${def}`, "/d/s.json:3:1: junk after '##' at end of documentation comment"],
    ['missing space after #', `##\n# @Foo:\n#x\n##\n${def}`, '/d/s.json:3:2: missing space after #'],
    ['unterminated block', `##\n# @Foo:\n${def}`, "/d/s.json:3:1: documentation comment must end with '##'"],
    ['symbol line without colon', `##\n# @Foo\n##\n${def}`, "/d/s.json:2:3: line should end with ':'"],
    ['@member: in free-form text', `##\n# Text\n# @a: no\n##\n`, "/d/s.json:3:3: '@a:' not allowed in free-form documentation"],
    ['doc not followed by its definition', `##\n# @Foo:\n##\n##\n# = Heading\n##\n${def}`, "/d/s.json:1:1: documentation for 'Foo' is not followed by the definition"],
    ['doc for another definition', `##\n# @Bar:\n##\n${def}`, "/d/s.json:1:1: documentation comment is for 'Bar', but the definition is struct 'Foo'"],
    ['free-form doc right before a definition', `##\n# Text\n##\n${def}`, '/d/s.json:1:1: definition documentation required (this block has no @Name: line)'],
    ['member after a tagged section', `##\n# @Foo:\n# Since: 1.0\n# @a: late\n##\n${def}`, "/d/s.json:4:3: description of '@a:' follows a section"],
    ['duplicated Since', `##\n# @Foo:\n# Since: 1.0\n# Since: 2.0\n##\n${def}`, "/d/s.json:4:3: duplicated 'Since' section"],
    ['duplicated member', `##\n# @Foo:\n# @a: one\n# @a: two\n##\n${def}`, "/d/s.json:4:3: duplicated description of member '@a'"],
    ['Features: without entries', `##\n# @Foo:\n# Features:\n#\n# Since: 1.0\n##\n${def}`, "/d/s.json:5:3: feature descriptions expected after 'Features:'"],
    ['= heading in definition documentation', `##\n# @Foo:\n# = Title\n##\n${def}`, "/d/s.json:3:3: unexpected '=' markup in definition documentation"],
  ];
  for (const [what, src, message] of cases) {
    it(what, () => {
      assertQapiError(() => resolveVirtual({ '/d/s.json': `${src}\n` }), message);
    });
  }

  it('documented member that does not exist', () => {
    assertQapiError(
      () => resolveVirtual({ '/d/s.json': `##\n# @Foo:\n# @a: ok\n# @b: stale\n##\n${def}\n` }),
      "/d/s.json:4:3: documented member 'b' does not exist in struct 'Foo'",
      'QAPI_DOC',
    );
  });

  it('doc-required pragma', () => {
    assertQapiError(
      () => resolveVirtual({ '/d/s.json': `{ 'pragma': { 'doc-required': true } }\n${def}\n` }),
      "/d/s.json:2:1: documentation comment required for struct 'Foo'",
    );
  });
});
