/**
 * The QMP request envelope check of qapi/qmp-dispatch.c (qmp_dispatch and
 * qmp_dispatch_check_obj): `id` is taken before any check, then members are
 * checked in QDict hash order and the first problem wins.
 */
import type { JsonNode } from './node.ts';
import { ENVELOPE_ERRORS } from './errors.ts';
import { qdictOrder } from './qdict-order.ts';

export type Envelope =
  | { ok: true; command: string; oob: boolean; id?: JsonNode; arguments?: JsonNode; executeNode: JsonNode }
  /** The class is always GenericError; id is present when the message was an object with an id. */
  | { ok: false; desc: string; id?: JsonNode };

/**
 * Checks a parsed request. `oobNegotiated` is whether this client enabled
 * the 'oob' capability; before negotiation it is false (and `exec-oob` is
 * then just an unexpected member).
 */
export function checkEnvelope(root: JsonNode, oobNegotiated: boolean): Envelope {
  if (root.kind !== 'object') return { ok: false, desc: ENVELOPE_ERRORS.notObject };
  // QDict semantics for hand-built nodes that repeat a key: last value, first position.
  const members = new Map<string, JsonNode>();
  for (const m of root.members) members.set(m.key, m.value);
  const id = members.get('id');
  const fail = (desc: string): Envelope => (id ? { ok: false, desc, id } : { ok: false, desc });

  let execKey: string | undefined;
  for (const key of qdictOrder([...members.keys()])) {
    const value = members.get(key)!;
    if (key === 'execute' || (key === 'exec-oob' && oobNegotiated)) {
      if (value.kind !== 'string') return fail(ENVELOPE_ERRORS.mustBeString(key));
      if (execKey !== undefined) return fail(ENVELOPE_ERRORS.clashes(key, execKey));
      execKey = key;
    } else if (key === 'arguments') {
      if (value.kind !== 'object') return fail(ENVELOPE_ERRORS.argumentsNotObject);
    } else if (key !== 'id') {
      return fail(ENVELOPE_ERRORS.unexpected(key));
    }
  }
  if (execKey === undefined) return fail(ENVELOPE_ERRORS.lacksExecute);

  const oob = !members.has('execute');
  const executeNode = members.get(oob ? 'exec-oob' : 'execute')!;
  const command = (executeNode as Extract<JsonNode, { kind: 'string' }>).value;
  const args = members.get('arguments');
  // Every accepted envelope has all six fields, present or undefined: one object shape for V8, so
  // a client's first command without an id (or with arguments) is not new code to it.
  return { ok: true, command, oob, id, arguments: args, executeNode };
}
