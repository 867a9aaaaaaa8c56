/**
 * The type-level half of the typed client: how a command name picks its argument and return types
 * (from @qmpmux/qapi-types' QmpCommands, plus extension commands a caller declares), which commands
 * may be sent out-of-band, and the shape of a typed event.
 */
import type { JsonPlain } from '@qmpmux/protocol';
import type { QmpCommands, QmpEventData, QmpEventName, QmpOobCommandName } from '@qmpmux/qapi-types';

/** One command's argument and return types, as each entry of QmpCommands. `oob: true` marks an extension command that allows exec-oob. */
export interface CommandSpec {
  args: unknown;
  ret: unknown;
  oob?: true;
}

/**
 * Extension commands on top of QEMU's (qmpmux's own `__org.qmpmux_*`, or another vendor's), by name:
 * `{ '__org.qmpmux_query-clients': { args: undefined; ret: ClientEntry[] } }`. The default is none.
 */
export type ExtensionCommands<X> = { [K in keyof X]: CommandSpec };

/** QEMU's commands with the extensions X (an extension of the same name replaces QEMU's). */
export type CommandsOf<X> = [keyof X] extends [never] ? QmpCommands : Omit<QmpCommands, keyof X> & X;

/** Every command name the typed `execute` takes. */
export type CommandNameOf<X> = keyof CommandsOf<X> & string;

/** Names that may be sent with exec-oob: QEMU's `allow-oob` commands and extensions marked `oob: true`. */
export type OobCommandNameOf<X> = QmpOobCommandName | { [K in keyof X]: X[K] extends { oob: true } ? K : never }[keyof X];

type SpecOf<X, K> = K extends keyof CommandsOf<X> ? CommandsOf<X>[K] : never;

/** Arguments of command K (`undefined` when it takes none). */
export type ArgsOf<X, K> = SpecOf<X, K> extends { args: infer A } ? A : never;
/** What command K returns on success. */
export type ReturnOf<X, K> = SpecOf<X, K> extends { ret: infer R } ? R : never;

/** Arguments of a command that takes none: nothing, or an empty object. */
export type NoArguments = undefined | { [key: string]: never };

/** Options of one typed command. `oob` is there only for commands that allow it. */
export type ExecuteOptionsOf<X, K> = { fds?: number[] } & ([K] extends [OobCommandNameOf<X>] ? { oob?: boolean } : { oob?: false });

/** Options of an untyped command (a name known only at run time). */
export interface UntypedExecuteOptions {
  fds?: number[];
  oob?: boolean;
}

/**
 * The parameters after the command name: arguments optional when the command has none or all of
 * them are optional, required otherwise; then the options.
 */
export type ExecuteRest<X, K, O = ExecuteOptionsOf<X, K>> = [ArgsOf<X, K>] extends [undefined]
  ? [args?: NoArguments, opts?: O]
  : {} extends ArgsOf<X, K>
    ? [args?: ArgsOf<X, K>, opts?: O]
    : [args: ArgsOf<X, K>, opts?: O];

/** What executeOob's name must also be: nothing more for an OOB command, an impossible brand (named in the error) otherwise. */
export type OobCheck<X, K> = [K] extends [OobCommandNameOf<X>] ? unknown : { 'this command does not allow exec-oob': never };

/** Options of executeOob: fds only (oob is implied). */
export interface OobOptions {
  fds?: number[];
}

/**
 * What the untyped `execute(name: string, …)` accepts as a name: any non-literal `string` (a name
 * chosen at run time, e.g. typed into the shell), or a literal downstream-extension name (`__vendor_…`,
 * which QAPI reserves for extensions). Any other literal must be a known command, so a misspelt
 * `'query-statuss'` does not compile, and neither does a declared extension (X) with wrong arguments.
 */
export type UntypedCommandName<S extends string, X = {}> = string extends S ? S : S extends CommandNameOf<X> ? never : S extends `__${string}` ? S : never;

/** When an event was emitted (QEMU's clock). */
export interface QmpTimestamp {
  seconds: number;
  microseconds: number;
}

/** One event as received, typed by its name: `data` is QmpEvents[N] (absent for events without data). */
export type QmpTypedEvent<N extends QmpEventName = QmpEventName> = N extends QmpEventName
  ? {
      event: N;
      timestamp: QmpTimestamp;
      /** Exactly the bytes received (without the line end). */
      raw: Buffer;
    } & ([QmpEventData<N>] extends [undefined] ? { data?: undefined } : { data: QmpEventData<N> })
  : never;

/** An event whose name is known only at run time (e.g. an extension's). */
export interface QmpEventMessage {
  event: string;
  data?: JsonPlain;
  timestamp: QmpTimestamp;
  /** Exactly the bytes received (without the line end). */
  raw: Buffer;
}

/** The QMP greeting. */
export type QmpGreeting = {
  QMP: {
    version: { qemu: { major: number; minor: number; micro: number }; package: string };
    capabilities: string[];
  };
};

/**
 * Where the client is:
 * - `connecting`: opening the transport, waiting for the greeting, negotiating (also on each reconnect attempt);
 * - `connected`: commands may be sent;
 * - `reconnecting`: the connection dropped and a new one will be tried after a backoff delay;
 * - `closed`: for good (closed by the caller, or dropped without reconnect, or out of attempts).
 * Commands sent in any state but `connected` fail at once with QmpNotConnectedError.
 */
export type QmpClientState = 'connecting' | 'connected' | 'reconnecting' | 'closed';
