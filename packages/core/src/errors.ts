/**
 * The catalog of errors qmpmux itself produces, with stable codes, each mapped onto a QMP error class.
 * QEMU's own errors are never rewritten: they pass through byte for byte.
 */
import type { QmpErrorClass } from '@qmpmux/protocol';

export const QMPMUX_ERRORS = {
  UPSTREAM_LOST: { cls: 'GenericError', desc: () => 'QEMU monitor connection lost' },
  UPSTREAM_UNAVAILABLE: { cls: 'GenericError', desc: (why: string) => `qmpmux: QEMU monitor unavailable (${why})` },
  MESSAGE_TOO_LARGE: {
    cls: 'GenericError',
    desc: (limit: number) => `qmpmux: message exceeds the limit of ${limit} bytes (maxMessageBytes); closing the connection`,
  },
  TOO_MANY_CLIENTS: { cls: 'GenericError', desc: (limit: number) => `qmpmux: too many clients (maxClients=${limit})` },
  PLUGIN_FAILED: {
    cls: 'GenericError',
    desc: (plugin: string, hook: string, msg: string) => `qmpmux: plugin '${plugin}' failed in ${hook}: ${msg}`,
  },
  REFUSED: { cls: 'GenericError', desc: (why: string) => `qmpmux: connection refused: ${why}` },
  SHUTTING_DOWN: { cls: 'GenericError', desc: () => 'qmpmux is shutting down' },
} as const satisfies Record<string, { cls: QmpErrorClass; desc: (...a: never[]) => string }>;

export type QmpmuxErrorCode = keyof typeof QMPMUX_ERRORS;

/** An error with a stable code and the QMP class it is reported as. */
export class QmpmuxError extends Error {
  constructor(
    readonly code: QmpmuxErrorCode | string,
    readonly cls: QmpErrorClass,
    message: string,
  ) {
    super(message);
  }
}

/** A QMP error reply (from QEMU or a plugin) surfaced to code that issued a command. */
export class QmpCommandError extends Error {
  constructor(
    readonly cls: string,
    readonly desc: string,
  ) {
    super(`${cls}: ${desc}`);
  }
}

/** The upstream link went away while a command was waiting. */
export class UpstreamLostError extends QmpmuxError {
  constructor() {
    super('UPSTREAM_LOST', 'GenericError', QMPMUX_ERRORS.UPSTREAM_LOST.desc());
  }
}
