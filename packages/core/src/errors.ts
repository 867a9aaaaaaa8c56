/**
 * Every error qmpmux itself produces — the core's and the plugins' — in one catalog: a stable code,
 * the QMP error class it is reported as, and its text. Where QEMU has an answer for the same input
 * (argument checks, unknown commands, negotiation), the text is QEMU's, word for word; qmpmux's own
 * refusals start with `qmpmux: `. QEMU's own errors are never rewritten: they pass through byte for byte.
 * docs/errors.md lists every code (a test keeps the two in step).
 */
import { errorReply, type QmpErrorClass } from '@qmpmux/protocol';

interface Entry {
  readonly cls: QmpErrorClass;
  readonly desc: (...args: never[]) => string;
}

export const QMPMUX_ERRORS = {
  // ---- QEMU's own texts, for what qmpmux answers itself -----------------------------------------
  /** A framing, JSON or envelope error: the protocol package's text, which is QEMU's. */
  QMP_INPUT: { cls: 'GenericError', desc: (qemuText: string) => qemuText },
  CAPABILITIES_FIRST: { cls: 'CommandNotFound', desc: () => "Expecting capabilities negotiation with 'qmp_capabilities'" },
  CAPABILITY_UNAVAILABLE: { cls: 'GenericError', desc: (cap: string) => `Capability ${cap} not available` },
  COMMAND_NOT_FOUND: { cls: 'CommandNotFound', desc: (command: string) => `The command ${command} has not been found` },
  NO_OOB: { cls: 'GenericError', desc: (command: string) => `The command ${command} does not support OOB` },
  ARG_MISSING: { cls: 'GenericError', desc: (path: string) => `Parameter '${path}' is missing` },
  ARG_TYPE: { cls: 'GenericError', desc: (path: string, expected: string) => `Invalid parameter type for '${path}', expected: ${expected}` },
  ARG_UNEXPECTED: { cls: 'GenericError', desc: (path: string) => `Parameter '${path}' is unexpected` },
  ARG_EXPECTS: { cls: 'GenericError', desc: (path: string, what: string) => `Parameter '${path}' expects ${what}` },
  ARG_VALUE: { cls: 'GenericError', desc: (path: string, value: string) => `Parameter '${path}' does not accept value '${value}'` },

  // ---- the core --------------------------------------------------------------------------------
  UPSTREAM_LOST: { cls: 'GenericError', desc: () => 'QEMU monitor connection lost' },
  UPSTREAM_UNAVAILABLE: { cls: 'GenericError', desc: (why: string) => `qmpmux: QEMU monitor unavailable (${why})` },
  MESSAGE_TOO_LARGE: {
    cls: 'GenericError',
    desc: (limit: number) => `qmpmux: message exceeds the limit of ${limit} bytes (maxMessageBytes); closing the connection`,
  },
  TOO_MANY_CLIENTS: { cls: 'GenericError', desc: (limit: number) => `qmpmux: too many clients (maxClients=${limit})` },
  INTERNAL_QUEUE_FULL: { cls: 'GenericError', desc: () => 'qmpmux: internal command queue is full (maxInternalQueue)' },
  PLUGIN_FAILED: {
    cls: 'GenericError',
    desc: (plugin: string, hook: string, msg: string) => `qmpmux: plugin '${plugin}' failed in ${hook}: ${msg}`,
  },
  REFUSED: { cls: 'GenericError', desc: (why: string) => `qmpmux: connection refused: ${why}` },
  ARGS_EXCLUSIVE: { cls: 'GenericError', desc: (a: string, b: string) => `Parameters '${a}' and '${b}' are mutually exclusive` },
  /** A virtual client's request (ProxyApi.openVirtualClient) must be one message: it gets one reply. */
  NOT_ONE_REQUEST: { cls: 'GenericError', desc: (got: string) => `qmpmux: a request must be exactly one QMP command (one JSON object); got ${got}` },
  REQUEST_TOO_LARGE: { cls: 'GenericError', desc: (limit: number) => `qmpmux: the request exceeds the limit of ${limit} bytes (maxMessageBytes)` },
  NO_FD_PASSING: {
    cls: 'GenericError',
    desc: (command: string, via: string) => `qmpmux: '${command}' takes a file descriptor, which cannot be passed over ${via}; use a unix socket client`,
  },
  CLOSED_BEFORE_REPLY: { cls: 'GenericError', desc: (why: string) => `qmpmux: the connection closed before the reply (${why})` },

  // ---- plugins/policy --------------------------------------------------------------------------
  NO_PRINCIPAL_SINCE_RELOAD: {
    cls: 'GenericError',
    desc: (command: string) => `qmpmux: command '${command}' refused: this connection matches no principal since the configuration was reloaded`,
  },
  NOT_PERMITTED: { cls: 'GenericError', desc: (command: string, principal: string) => `qmpmux: command '${command}' is not permitted for principal '${principal}'` },

  // ---- plugins/add-client-auth -----------------------------------------------------------------
  ADD_CLIENT_REFUSED: { cls: 'GenericError', desc: (principal: string, why: string) => `qmpmux: add_client refused for principal '${principal}': ${why}` },

  // ---- plugins/fdsets --------------------------------------------------------------------------
  FD_NOT_OWNED: {
    cls: 'GenericError',
    desc: (fd: number, fdset: number) => `qmpmux: fd ${fd} in fd set ${fdset} was not added by this client, and removing other clients' fds is not allowed`,
  },
  FDSET_FOREIGN: {
    cls: 'GenericError',
    desc: (fdset: number, foreign: number) =>
      `qmpmux: fd set ${fdset} holds ${foreign} fd(s) this client did not add, and removing other clients' fds is not allowed; remove this client's fds one by one`,
  },

  // ---- plugins/nats ----------------------------------------------------------------------------
  GATEWAY_NO_PRINCIPAL: {
    cls: 'GenericError',
    desc: () => "qmpmux: the NATS command gateway is disabled: the nats plugin's option gatewayPrincipal is not set",
  },
  GATEWAY_BUSY: {
    cls: 'GenericError',
    desc: (limit: number) => `qmpmux: the NATS command gateway is busy (maxGatewayQueue=${limit} requests already waiting); try again later`,
  },

  // ---- plugins/hmp-audit -----------------------------------------------------------------------
  AUDIT_LOG_UNWRITABLE: {
    cls: 'GenericError',
    desc: (why: string, command: string) => `qmpmux: the audit log cannot be written (${why}): '${command}' refused (hmp-audit is fail-closed)`,
  },
  HMP_REFUSED: {
    cls: 'GenericError',
    desc: (hmp: string, rule: string, principal: string | undefined) =>
      `qmpmux: HMP command '${hmp}' refused by audit rule '${rule}'${principal !== undefined ? ` for principal '${principal}'` : ''}`,
  },
} as const satisfies Record<string, Entry>;

export type QmpmuxErrorCode = keyof typeof QMPMUX_ERRORS;
type ArgsOfCode<C extends QmpmuxErrorCode> = Parameters<(typeof QMPMUX_ERRORS)[C]['desc']>;

/** A command verdict that refuses it with a QMP error. */
export interface Refusal {
  readonly action: 'error';
  readonly class: QmpErrorClass;
  readonly desc: string;
  /** The catalog code, for logs and metrics. */
  readonly code?: QmpmuxErrorCode;
}

/** The text of a catalog error. */
export function errorText<C extends QmpmuxErrorCode>(code: C, ...args: ArgsOfCode<C>): string {
  return (QMPMUX_ERRORS[code].desc as (...a: ArgsOfCode<C>) => string)(...args);
}

/** Refuse a command with a catalog error: the verdict an onCommand hook or an own command returns. */
export function refuse<C extends QmpmuxErrorCode>(code: C, ...args: ArgsOfCode<C>): Refusal {
  return { action: 'error', class: QMPMUX_ERRORS[code].cls, desc: errorText(code, ...args), code };
}

/** A catalog error as a QMP reply line (no line end), with the client's id when it sent one. */
export function errorLine<C extends QmpmuxErrorCode>(code: C, idText: string | undefined, ...args: ArgsOfCode<C>): string {
  return errorReply(QMPMUX_ERRORS[code].cls, errorText(code, ...args), idText);
}

/** An error with a stable code and the QMP class it is reported as. */
export class QmpmuxError extends Error {
  constructor(
    readonly code: QmpmuxErrorCode,
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
    super('UPSTREAM_LOST', 'GenericError', errorText('UPSTREAM_LOST'));
  }
}
