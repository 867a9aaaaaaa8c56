/**
 * Default limits of the client-input framer.
 *
 * `maxDepth`, `maxTokens` and `maxTokenBytes` are QEMU's own limits
 * (qobject/json-streamer.c: MAX_NESTING, MAX_TOKEN_COUNT, MAX_TOKEN_SIZE).
 * `maxMessageBytes` is qmpmux policy: QEMU has no such cap, but it ingests
 * client input one byte per read(), so a huge message stalls the shared
 * upstream for every client.
 */
export const QMP_LIMITS = Object.freeze({
  /** Bytes of one message, counted from its first token byte (proxy policy). */
  maxMessageBytes: 1 << 20,
  /** `{` and `[` nesting, combined. */
  maxDepth: 1024,
  /** Tokens in one message. */
  maxTokens: 2 << 20,
  /** Total token text of one message; also the cap on a single token. */
  maxTokenBytes: 64 << 20,
});

export type QmpLimits = typeof QMP_LIMITS;
