/** HMP parsing, classification, line redaction, rules and argument redaction, without QEMU. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '@qmpmux/core';
import { normalizeHmpName, parseHmp } from '@qmpmux/audit-log';
import { DESTRUCTIVE, Policy, classifyHmpText, compileRedactions, DEFAULT_REDACTIONS, redactArguments, redactHmpLine, validateOptions } from '../src/index.ts';

describe('parseHmp', () => {
  const cases: [string, string, string?, string?][] = [
    // line, name, alias, args
    ['info status', 'info status', undefined, ''],
    ['  info \t  status  ', 'info status', undefined, ''],
    ['info', 'info', undefined, ''],
    ['info   ', 'info', undefined, ''],
    ['info foo bar', 'info foo', undefined, 'bar'],
    ['info\tversion', 'info version', undefined, ''],
    ['c', 'cont', 'c', ''],
    ['   s', 'stop', 's', ''],
    ['q', 'quit', 'q', ''],
    ['p 1+2', 'print', 'p', '1+2'],
    ['p/x 255', 'print', 'p', '/x 255'],
    ['? stop', 'help', '?', 'stop'],
    ['x/1x 0', 'x', undefined, '/1x 0'],
    ['cont', 'cont', undefined, ''],
    ['STOP', 'STOP', undefined, ''],
    ['stop; quit', 'stop;', undefined, 'quit'],
    ['info/x', 'info', undefined, ''],
    ['', '', undefined, ''],
    ['device_add virtio-net,id=n1', 'device_add', undefined, 'virtio-net,id=n1'],
  ];
  for (const [line, name, alias, args] of cases) {
    it(`${JSON.stringify(line)} is ${JSON.stringify(name)}${alias ? ` (alias ${alias})` : ''}`, () => {
      const p = parseHmp(line);
      assert.equal(p.name, name);
      assert.equal(p.alias, alias);
      if (args !== undefined && name !== 'info') assert.equal(p.args, args);
    });
  }

  it('normalizes names and patterns the way it parses lines', () => {
    assert.equal(normalizeHmpName('c'), 'cont');
    assert.equal(normalizeHmpName(' info   status '), 'info status');
    assert.equal(normalizeHmpName('info *'), 'info *');
    assert.equal(normalizeHmpName('*'), '*');
    assert.equal(normalizeHmpName('migrate*'), 'migrate*');
  });
});

describe('classifyHmpText', () => {
  it('classifies QEMU 7.2 failure texts and leaves output alone', () => {
    assert.equal(classifyHmpText('VM status: running\r\n'), undefined);
    assert.equal(classifyHmpText(''), undefined);
    assert.equal(classifyHmpText("Error: 'nonexist' is not a valid device model name\r\n"), 'error');
    assert.equal(classifyHmpText("unknown command: 'foo'\r\n"), 'unknown-command');
    assert.equal(classifyHmpText('cont|c: extraneous characters at the end of line\r\nTry "help c" for more information\r\n'), 'usage');
    assert.equal(classifyHmpText('the word Error: inside a line\r\n'), undefined);
  });
});

describe('redactHmpLine', () => {
  it('hides passwords and secret data, nothing else', () => {
    const r = (l: string) => redactHmpLine(l, parseHmp(l));
    assert.equal(r('set_password vnc hunter2'), 'set_password vnc <redacted>');
    assert.equal(r('  set_password  spice hunter2 keep'), '  set_password  spice <redacted> keep');
    assert.equal(r('change vnc password hunter2'), 'change vnc password <redacted>');
    assert.equal(r('change ide1-cd0 /tmp/x.iso'), undefined);
    assert.equal(r('object_add secret,id=s1,data=hunter2'), 'object_add secret,id=s1,data=<redacted>');
    assert.equal(r('object_add secret,data=a,,b,id=s1'), 'object_add secret,data=<redacted>,id=s1');
    assert.equal(r('object_add qom-type=secret,id=s1,data=x'), 'object_add qom-type=secret,id=s1,data=<redacted>');
    assert.equal(r('object_add memory-backend-ram,id=m,size=1M'), undefined);
    assert.equal(r('info status'), undefined);
  });
});

describe('Policy', () => {
  const rules = validateOptions(
    {
      path: '/x',
      operators: ['ops'],
      unauthenticatedIsOperator: false,
      rules: [
        { name: 'alice-no-stop', action: 'deny', commands: ['s'], principals: ['alice'] },
        { action: 'allow', commands: ['quit'], principals: ['bob'] },
        { action: 'deny', commands: ['info *'], principals: ['eve'] },
      ],
    },
    'o',
  );
  const p = new Policy(rules);
  it('user rules first, in order, by principal and alias-resolved name', () => {
    assert.deepEqual(p.decide('alice', 'stop'), { allowed: false, rule: 'alice-no-stop' });
    assert.deepEqual(p.decide('bob', 'stop'), { allowed: true, rule: 'default:allow' });
    assert.deepEqual(p.decide('bob', 'quit'), { allowed: true, rule: 'rules[1]' });
    assert.deepEqual(p.decide('eve', 'info status'), { allowed: false, rule: 'rules[2]' });
    assert.deepEqual(p.decide('eve', 'print'), { allowed: true, rule: 'default:allow' });
  });
  it('then the default: destructive commands only for operators', () => {
    assert.deepEqual(p.decide('alice', 'quit'), { allowed: false, rule: 'default:destructive' });
    assert.deepEqual(p.decide(undefined, 'device_add'), { allowed: false, rule: 'default:destructive' });
    assert.deepEqual(p.decide('ops', 'device_add'), { allowed: true, rule: 'default:operator' });
    const open = new Policy(validateOptions({ path: '/x' }, 'o'));
    assert.deepEqual(open.decide(undefined, 'quit'), { allowed: true, rule: 'default:operator' }, 'no policy plugin: transparent');
    assert.deepEqual(open.decide('someone', 'quit'), { allowed: false, rule: 'default:destructive' });
    const off = new Policy(validateOptions({ path: '/x', destructiveDefault: false, unauthenticatedIsOperator: false }, 'o'));
    assert.deepEqual(off.decide(undefined, 'quit'), { allowed: true, rule: 'default:allow' });
  });
  it('lists QEMU 7.2 command names only', () => {
    for (const n of DESTRUCTIVE) assert.equal(normalizeHmpName(n), n);
    assert.ok(!DESTRUCTIVE.includes('stop') && !DESTRUCTIVE.includes('info status'));
  });
  it('names the bad option', () => {
    assert.throws(() => validateOptions({}, 'p'), (e: ConfigError) => e.path === 'p.path');
    assert.throws(() => validateOptions({ path: '/x', rules: [{ action: 'deny' }] }, 'p'), (e: ConfigError) => e.path === 'p.rules[0].commands');
    assert.throws(() => validateOptions({ path: '/x', redact: [{ command: 'x', paths: ['$.a[b'] }] }, 'p'), (e: ConfigError) => e.path === 'p.redact[0].paths[0]');
    assert.throws(() => validateOptions({ path: '/x', fsync: 'never' }, 'p'), (e: ConfigError) => e.path === 'p.fsync');
    assert.throws(() => validateOptions({ path: '/x', hmacKeyEnv: 'QMPMUX_TEST_NO_SUCH_VAR' }, 'p'), (e: ConfigError) => e.path === 'p.hmacKeyEnv');
  });
});

describe('redactArguments', () => {
  const defaults = compileRedactions(DEFAULT_REDACTIONS);
  it('hides secret object data, passwords at any depth, and leaves the input untouched', () => {
    const args = { 'qom-type': 'secret', id: 's0', data: 'hunter2', format: 'raw' };
    assert.deepEqual(redactArguments('object-add', args, defaults), { args: { ...args, data: '<redacted>' }, redacted: true });
    assert.equal(args.data, 'hunter2');
    const other = { 'qom-type': 'memory-backend-ram', id: 'm', size: 1 };
    assert.deepEqual(redactArguments('object-add', other, defaults), { args: other, redacted: false });
    assert.deepEqual(redactArguments('set_password', { protocol: 'vnc', password: 'x' }, defaults).args, { protocol: 'vnc', password: '<redacted>' });
    assert.deepEqual(redactArguments('x-thing', { a: [{ b: { password: 'p' } }] }, defaults).args, { a: [{ b: { password: '<redacted>' } }] });
  });
  it('follows configured paths: members, indexes, wildcards', () => {
    const rules = compileRedactions([{ command: 'c', paths: ['$.a[1]', 'b.*', '$["odd key"]'] }]);
    assert.deepEqual(redactArguments('c', { a: [1, 2, 3], b: { x: 1, y: 2 }, 'odd key': 1, z: 1 }, rules).args, {
      a: [1, '<redacted>', 3],
      b: { x: '<redacted>', y: '<redacted>' },
      'odd key': '<redacted>',
      z: 1,
    });
  });
});
