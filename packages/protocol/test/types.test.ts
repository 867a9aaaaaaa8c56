/**
 * The public types. These are checked by `tsc --noEmit` (the @ts-expect-error
 * lines fail the type check if the API loosens), and the runtime part pins
 * the export list other packages rely on.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as protocol from '../src/index.ts';
import type { Envelope, FrameEvent, FramerOptions, JsonNode, JsonPlain, QmpErrorClass } from '../src/index.ts';

// Compile-time checks.
const node: JsonNode = { kind: 'int', start: 0, end: 1, value: 1n };
// @ts-expect-error int values are bigint
const badNode: JsonNode = { kind: 'int', start: 0, end: 1, value: 1 };
const plain: JsonPlain = { a: [1, 2n, 'x', null, true, { b: 1.5 }] };
// @ts-expect-error undefined is not JSON
const badPlain: JsonPlain = { a: undefined };
const cls: QmpErrorClass = 'DeviceNotActive';
// @ts-expect-error unknown error class
const badCls: QmpErrorClass = 'NoSuchClass';
const opts: FramerOptions = { maxMessageBytes: 1, maxDepth: 1, maxTokens: 1, maxTokenBytes: 1, allowNonFinite: true };
function narrow(ev: FrameEvent): string {
  switch (ev.type) {
    case 'message':
      return ev.raw.toString() + ev.root.kind;
    case 'error':
      return ev.desc;
    case 'oversize':
      return String(ev.limit);
  }
}
function envelopeText(env: Envelope): string {
  return env.ok ? `${env.command} ${env.oob} ${env.executeNode.kind}` : env.desc;
}
const framer = new protocol.QmpFramer(opts);
function mustNotCompile(): void {
  // @ts-expect-error pendingBytes is read-only
  framer.pendingBytes = 3;
  // @ts-expect-error next() takes a Buffer
  framer.next('text');
}
void [node, badNode, plain, badPlain, cls, badCls, narrow, envelopeText, mustNotCompile];

describe('public API', () => {
  it('exports the agreed names', () => {
    for (const name of [
      'QmpFramer',
      'toPlain',
      'serializeQemu',
      'formatDouble',
      'qdictOrder',
      'checkEnvelope',
      'errorReply',
      'returnReply',
      'QMP_LIMITS',
      'QMP_ERROR_CLASSES',
    ]) {
      assert.ok(name in protocol, name);
    }
  });

  it('lists the QEMU error classes', () => {
    assert.deepEqual([...protocol.QMP_ERROR_CLASSES], ['GenericError', 'CommandNotFound', 'DeviceNotActive', 'DeviceNotFound', 'KVMMissingCap']);
    assert.equal(protocol.isQmpErrorClass('KVMMissingCap'), true);
    assert.equal(protocol.isQmpErrorClass('Nope'), false);
  });

  it('has frozen limits', () => {
    assert.ok(Object.isFrozen(protocol.QMP_LIMITS));
  });

  it('has the framer members of the agreed API', () => {
    assert.equal(typeof framer.next, 'function');
    assert.equal(typeof framer.push, 'function');
    assert.equal(typeof framer.reset, 'function');
    assert.equal(framer.pendingBytes, 0);
  });
});
