/**
 * What the plugin hooks are given — the client view, the command on its way, the reply, the event —
 * and the verdicts they may answer with. The hooks themselves, and how each runs, are in types.ts
 * (which hands these on: plugins take them from `@qmpmux/core`).
 */
import type { JsonPlain, QmpErrorClass } from '@qmpmux/protocol';
import type { Peer } from '@qmpmux/transports';
import type { Refusal } from './errors.ts';

/**
 * One connected client, as plugins see it: a view, not the connection. Everything is read-only but
 * `principal` (which a policy plugin sets in onClientConnect) and the contents of `attributes`.
 */
export interface ClientInfo {
  readonly id: number;
  readonly peer: Peer;
  readonly connectedAt: Date;
  /** Who this is, set by a policy plugin in onClientConnect; undefined when nobody decided. */
  principal: string | undefined;
  /** Per-plugin state, keyed by plugin name. */
  readonly attributes: Map<string, unknown>;
  readonly negotiated: boolean;
  readonly oob: boolean;
  /** Commands received and events sent so far. */
  readonly stats: { readonly commands: number; readonly events: number };
}

/** A command on its way to QEMU. */
export interface CommandContext {
  readonly client: ClientInfo;
  /** The command name as the client sent it. */
  readonly command: string;
  /** The arguments as plain JS (integers beyond 2^53 are bigint); undefined when none were given. */
  readonly arguments: Record<string, JsonPlain> | undefined;
  /** Sent with exec-oob. */
  readonly oob: boolean;
  /** The client's id re-serialized as QEMU would echo it; undefined when it sent none. */
  readonly idText: string | undefined;
  /** fds the client passed that this command would take (getfd, add-fd). Read-only: the core owns them. */
  readonly fds: readonly number[];
  /** process.hrtime.bigint() when the command was read. */
  readonly receivedAt: bigint;
  /** Scratch space shared by the hooks of one command (e.g. an audit record id), keyed by plugin. */
  readonly state: Map<string, unknown>;
}

export type CommandVerdict =
  /** Go on to the next plugin and then QEMU, optionally with a rewritten command or arguments. */
  | { action: 'continue'; command?: string; arguments?: Record<string, JsonPlain> }
  /** Answer locally with a return value. */
  | { action: 'reply'; return: JsonPlain }
  /** Refuse with a QMP error: refuse(code, …) from the catalog in errors.ts. */
  | Refusal;

export interface ReplyContext {
  readonly command: CommandContext;
  /**
   * Who produced the reply: QEMU, a plugin's local verdict, or qmpmux itself (the QEMU link was lost;
   * that error has already gone to the client, so a replacement verdict is ignored).
   */
  readonly source: 'qemu' | 'plugin' | 'qmpmux';
  /** The name actually sent to QEMU (after rewrites). */
  readonly executed: string;
  /** The reply's content, parsed on demand. */
  result(): { return: JsonPlain } | { error: { class: string; desc: string } };
  /**
   * Work out something about this reply once. For an answer from the link's query cache
   * (query-qmp-schema, query-commands, …: query-cache.ts) that no plugin after this one replaced,
   * `compute` runs once per `key` per QEMU connection and its first result comes back every time
   * after — until the link reconnects or the configuration is reloaded (Proxy.reload); for any other
   * reply it runs each time. For a verdict that depends on nothing but the answer and `key`, such
   * as the policy plugin's view of introspection per principal. Keys are shared by all plugins:
   * start yours with your plugin's name. A verdict returned through memo must never be changed
   * afterwards: qmpmux keeps its bytes.
   */
  memo<T extends ReplyVerdict | void>(key: string, compute: () => T): T;
}

export type ReplyVerdict = { action: 'replace'; return: JsonPlain } | { action: 'replace'; error: { class: QmpErrorClass | string; desc: string } };

/** An event from QEMU, numbered in arrival order per upstream (1, 2, 3, …). */
export interface QmpEvent {
  readonly seq: number;
  readonly name: string;
  /** Exactly the bytes QEMU sent, line end included; this is what clients receive. */
  readonly raw: Buffer;
  /** Parsed on demand. */
  value(): { event: string; data?: JsonPlain; timestamp: { seconds: number; microseconds: number } };
}

export type ConnectVerdict = { action: 'refuse'; reason: string };
