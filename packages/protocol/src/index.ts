/**
 * @qmpmux/protocol: the QMP wire format, no I/O.
 * Framing and parsing of client input exactly as QEMU 7.2 does it,
 * QEMU-exact serialization, the request envelope check and reply texts.
 */
export { QmpFramer, parseMessage, type FramerOptions, type FrameEvent } from './framer.ts';
export { type JsonNode, type JsonNodeKind, type JsonPlain, toPlain, scalarValue, isJsonNode, getMember } from './node.ts';
export { serializeQemu, serializeNode, serializePlain, quoteString } from './serialize.ts';
export { formatDouble } from './format-double.ts';
export { qdictOrder, qdictBucket, qdictHash, QDICT_BUCKETS } from './qdict-order.ts';
export { checkEnvelope, type Envelope } from './envelope.ts';
export { errorReply, returnReply } from './replies.ts';
export { QMP_LIMITS, type QmpLimits } from './limits.ts';
export {
  QMP_ERROR_CLASSES,
  type QmpErrorClass,
  isQmpErrorClass,
  PARSE_ERRORS,
  ENVELOPE_ERRORS,
} from './errors.ts';
