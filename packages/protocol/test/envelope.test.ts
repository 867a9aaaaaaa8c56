/**
 * The envelope check (qmp_dispatch_check_obj): member checks run in QDict
 * order and the first problem wins. Expected results were observed on QEMU
 * 7.2 before negotiation, after it, and with OOB enabled (all the inputs
 * below are also in fixtures/qemu-7.2-replies.json in all three modes).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkEnvelope, serializeQemu, QmpFramer, type Envelope, type FrameEvent, type JsonNode } from '../src/index.ts';

function parse(text: string): JsonNode {
  const [ev] = new QmpFramer().push(Buffer.from(text + ' '));
  assert.equal(ev?.type, 'message');
  return (ev as Extract<FrameEvent, { type: 'message' }>).root;
}

/** desc, or "ok <command> oob=<bool>", plus the serialized id. */
function check(text: string, oob: boolean): string {
  const env = checkEnvelope(parse(text), oob);
  const id = env.id ? ` id=${serializeQemu(env.id)}` : '';
  return env.ok ? `ok ${env.command} oob=${env.oob}${id}` : env.desc + id;
}

describe('checkEnvelope', () => {
  it('rejects non-objects without an id', () => {
    for (const text of ['42', '"s"', '[1]', 'null', 'true']) {
      assert.deepEqual(checkEnvelope(parse(text), false), { ok: false, desc: 'QMP input must be a JSON object' });
    }
  });

  it('accepts execute with arguments and id', () => {
    const root = parse('{"execute":"x","id":1,"arguments":{"a":[1]}}');
    const env = checkEnvelope(root, false);
    assert.ok(env.ok);
    assert.equal(env.command, 'x');
    assert.equal(env.oob, false);
    assert.equal(serializeQemu(env.id!), '1');
    assert.equal(serializeQemu(env.arguments!), '{"a": [1]}');
    assert.equal(env.executeNode.kind, 'string');
    assert.equal(root.kind === 'object' && root.members[0]!.value, env.executeNode);
  });

  it('has one shape: id and arguments are undefined when absent, and every accepted envelope has the same keys in the same order', () => {
    const bare = checkEnvelope(parse('{"execute":"x"}'), false);
    assert.ok(bare.ok);
    assert.equal(bare.id, undefined);
    assert.equal(bare.arguments, undefined);
    const keys = Object.keys(bare);
    for (const text of ['{"execute":"x","id":1}', '{"id":"s","execute":"x"}', '{"arguments":{},"execute":"x"}', '{"execute":"x","arguments":{"a":1},"id":[1]}']) {
      assert.deepEqual(Object.keys(checkEnvelope(parse(text), false)), keys, text);
    }
  });

  it('accepts exec-oob only when OOB is negotiated', () => {
    assert.equal(check('{"exec-oob":"x","id":7}', true), 'ok x oob=true id=7');
    assert.equal(check('{"exec-oob":"x","id":7}', false), "QMP input member 'exec-oob' is unexpected id=7");
  });

  // Observed on QEMU 7.2: [input, without OOB (before or after negotiation), with OOB negotiated].
  const precedence: [string, string, string][] = [
    ['{"zzz":1,"bar":2,"execute":"x"}', "QMP input member 'bar' is unexpected", "QMP input member 'bar' is unexpected"],
    ['{"a":1,"b":2,"c":3,"execute":"x"}', "QMP input member 'a' is unexpected", "QMP input member 'a' is unexpected"],
    ['{"execute":1}', "QMP input member 'execute' must be a string", "QMP input member 'execute' must be a string"],
    ['{"execute":null}', "QMP input member 'execute' must be a string", "QMP input member 'execute' must be a string"],
    ['{"execute":{"a":1}}', "QMP input member 'execute' must be a string", "QMP input member 'execute' must be a string"],
    ['{"exec-oob":1}', "QMP input member 'exec-oob' is unexpected", "QMP input member 'exec-oob' must be a string"],
    ['{"exec-oob":"x"}', "QMP input member 'exec-oob' is unexpected", 'ok x oob=true'],
    ['{"execute":"x","exec-oob":"y"}', "QMP input member 'exec-oob' is unexpected", "QMP input member 'execute' clashes with 'exec-oob'"],
    ['{"exec-oob":"y","execute":"x"}', "QMP input member 'exec-oob' is unexpected", "QMP input member 'execute' clashes with 'exec-oob'"],
    ['{"exec-oob":1,"execute":1}', "QMP input member 'exec-oob' is unexpected", "QMP input member 'exec-oob' must be a string"],
    ['{"execute":1,"exec-oob":"y"}', "QMP input member 'exec-oob' is unexpected", "QMP input member 'execute' must be a string"],
    ['{"exec-oob":1,"execute":"x"}', "QMP input member 'exec-oob' is unexpected", "QMP input member 'exec-oob' must be a string"],
    ['{"exec-oob":"y","arguments":1}', "QMP input member 'exec-oob' is unexpected", "QMP input member 'arguments' must be an object"],
    ['{"exec-oob":"y","foo":1}', "QMP input member 'exec-oob' is unexpected", "QMP input member 'foo' is unexpected"],
    ['{"exec-oob":"x","id":1,"arguments":{}}', "QMP input member 'exec-oob' is unexpected id=1", 'ok x oob=true id=1'],
    ['{"execute":"x","arguments":null}', "QMP input member 'arguments' must be an object", "QMP input member 'arguments' must be an object"],
    ['{"execute":"x","arguments":[]}', "QMP input member 'arguments' must be an object", "QMP input member 'arguments' must be an object"],
    ['{"execute":"x","foo":1,"arguments":1}', "QMP input member 'arguments' must be an object", "QMP input member 'arguments' must be an object"],
    ['{"execute":1,"foo":2}', "QMP input member 'execute' must be a string", "QMP input member 'execute' must be a string"],
    ['{"foo":1,"execute":1}', "QMP input member 'execute' must be a string", "QMP input member 'execute' must be a string"],
    ['{"arguments":1,"execute":1}', "QMP input member 'execute' must be a string", "QMP input member 'execute' must be a string"],
    ['{"arguments":{}}', "QMP input lacks member 'execute'", "QMP input lacks member 'execute'"],
    ['{}', "QMP input lacks member 'execute'", "QMP input lacks member 'execute'"],
    ['{"id":1}', "QMP input lacks member 'execute' id=1", "QMP input lacks member 'execute' id=1"],
    ['{"id":1,"foo":2}', "QMP input member 'foo' is unexpected id=1", "QMP input member 'foo' is unexpected id=1"],
    ['{"arguments":{},"id":{"b":1,"a":2}}', 'QMP input lacks member \'execute\' id={"a": 2, "b": 1}', 'QMP input lacks member \'execute\' id={"a": 2, "b": 1}'],
    ['{"Execute":"x"}', "QMP input member 'Execute' is unexpected", "QMP input member 'Execute' is unexpected"],
    ['{"execute":"x","execute2":"y"}', "QMP input member 'execute2' is unexpected", "QMP input member 'execute2' is unexpected"],
    ['{"execute":"x","id":1,"arguments":{}}', 'ok x oob=false id=1', 'ok x oob=false id=1'],
  ];
  for (const [input, plain, withOob] of precedence) {
    it(`checks ${input} in hash order`, () => {
      assert.equal(check(input, false), plain, 'without OOB');
      assert.equal(check(input, true), withOob, 'with OOB');
    });
  }

  it('echoes the id with every envelope error', () => {
    const env: Envelope = checkEnvelope(parse('{"id":[1,2],"execute":1}'), false);
    assert.ok(!env.ok);
    assert.equal(serializeQemu(env.id!), '[1, 2]');
  });
});
