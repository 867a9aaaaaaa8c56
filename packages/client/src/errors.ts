/**
 * What a command can fail with, each a class to test with instanceof:
 * - QmpError: the server answered with an error (`cls` is QEMU's error class, `desc` its text);
 * - QmpDisconnectedError: the connection dropped (or was closed) while the command waited for its reply;
 * - QmpNotConnectedError: the command was issued while the client was not connected (reconnecting, closed);
 * - QmpTooManyPendingError: `maxPending` commands were already waiting for replies.
 * The last three extend QmpConnectionError.
 */
import type { QapiErrorClass } from '@qmpmux/qapi-types';
import type { QmpClientState } from './types.ts';

/** The error classes QEMU answers with (QAPI `QapiErrorClass`). */
export type QmpErrorClass = QapiErrorClass;

const ERROR_CLASSES: readonly QmpErrorClass[] = ['GenericError', 'CommandNotFound', 'DeviceNotActive', 'DeviceNotFound', 'KVMMissingCap'];

/** An error reply from the server. */
export class QmpError extends Error {
  override readonly name = 'QmpError';
  constructor(
    /** The error class. QEMU 7.2 knows exactly these; a server sending another class still gets it here as sent. */
    readonly cls: QmpErrorClass,
    readonly desc: string,
    /** The command that failed, when known. */
    readonly command?: string,
  ) {
    super(`${cls}: ${desc}`);
  }

  /** Is `e` a QmpError (of class `cls`, when given)? */
  static is<C extends QmpErrorClass>(e: unknown, cls?: C): e is QmpError & { readonly cls: C } {
    return e instanceof QmpError && (cls === undefined || e.cls === cls);
  }
}

/** A known QEMU error class (false for anything else). */
export function isQmpErrorClass(value: unknown): value is QmpErrorClass {
  return typeof value === 'string' && (ERROR_CLASSES as readonly string[]).includes(value);
}

/** Base of the errors about the connection rather than the command. */
export class QmpConnectionError extends Error {}

/** The connection dropped, or the client was closed, before the reply came. */
export class QmpDisconnectedError extends QmpConnectionError {
  override readonly name = 'QmpDisconnectedError';
  readonly code = 'QMP_DISCONNECTED';
  constructor(message = 'QMP connection closed') {
    super(message);
  }
}

/** A command issued while the client is not connected (it is sent nowhere). */
export class QmpNotConnectedError extends QmpConnectionError {
  override readonly name = 'QmpNotConnectedError';
  readonly code = 'QMP_NOT_CONNECTED';
  constructor(
    /** The state the client was in. */
    readonly state: Exclude<QmpClientState, 'connected'>,
  ) {
    super(state === 'closed' ? 'QMP client is closed' : `QMP client is not connected (${state})`);
  }
}

/** More commands waiting for a reply than `maxPending` allows (an error, not a queue). */
export class QmpTooManyPendingError extends QmpConnectionError {
  override readonly name = 'QmpTooManyPendingError';
  readonly code = 'QMP_TOO_MANY_PENDING';
  constructor(readonly maxPending: number) {
    super(`too many commands waiting (maxPending=${maxPending})`);
  }
}
