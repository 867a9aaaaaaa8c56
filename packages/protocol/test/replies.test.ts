/** Reply texts, checked against QEMU's observed lines and against the serializer's own key order. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { errorReply, returnReply, serializePlain } from '../src/index.ts';

describe('errorReply', () => {
  it('writes an error without id as QEMU does for parse errors', () => {
    assert.equal(
      errorReply('GenericError', 'JSON parse error, expecting value'),
      '{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}',
    );
  });

  it('puts the id first', () => {
    assert.equal(
      errorReply('CommandNotFound', "Expecting capabilities negotiation with 'qmp_capabilities'", '{"a": 2, "b": 1}'),
      `{"id": {"a": 2, "b": 1}, "error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}}`,
    );
  });

  it('escapes the description', () => {
    assert.equal(errorReply('GenericError', "stray '\u0001\ufffd\"'"), `{"error": {"class": "GenericError", "desc": "stray '\\u0001\\uFFFD\\"'"}}`);
  });

  it('agrees with the serializer on key order', () => {
    assert.equal(errorReply('GenericError', 'd', '7'), serializePlain({ error: { class: 'GenericError', desc: 'd' }, id: 7 }));
    assert.equal(errorReply('GenericError', 'd'), serializePlain({ error: { class: 'GenericError', desc: 'd' } }));
  });
});

describe('returnReply', () => {
  it('puts the id last', () => {
    assert.equal(returnReply('{}', '"x"'), '{"return": {}, "id": "x"}');
    assert.equal(returnReply('{}'), '{"return": {}}');
    assert.equal(
      returnReply('{"status": "running", "singlestep": false, "running": true}', '12345678901234567890'),
      '{"return": {"status": "running", "singlestep": false, "running": true}, "id": 12345678901234567890}',
    );
  });

  it('agrees with the serializer on key order', () => {
    assert.equal(returnReply('[]', '1'), serializePlain({ return: [], id: 1 }));
  });
});
