/**
 * The public plugin interface. A plugin is a set of async hooks; how each hook runs is part of its type:
 *
 * | hook               | order      | how it runs                                                   |
 * |--------------------|------------|---------------------------------------------------------------|
 * | onClientConnect    | in order   | one after another; the first `refuse` ends the chain          |
 * | onNegotiated       | in order   | one after another                                             |
 * | onCommand          | in order   | one after another; the first verdict other than continue wins |
 * | onReply            | reverse    | one after another; each may replace the reply                 |
 * | onEvent            | reverse    | one after another, before the event reaches any client        |
 * | onClientDisconnect | reverse    | one after another, every plugin                               |
 *
 * Hooks are async only. A hook that throws is reported with the plugin's and the hook's name; in
 * onClientConnect and onCommand that refuses the connection or the command (fail closed), elsewhere
 * the proxy logs it and goes on as if the hook had returned nothing.
 */
import type { Observable } from 'rxjs';
import type { JsonPlain, QmpErrorClass } from '@qmpmux/protocol';
import type { Peer } from '@qmpmux/transports';
import type { Logger } from './log.ts';
import type { OwnCommandDeclaration } from './introspection.ts';
import type { UpstreamState } from './upstream.ts';

export type { JsonPlain, QmpErrorClass, Peer };

/** One connected client, as plugins see it. */
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
  /** Commands received / answered so far. */
  readonly stats: { commands: number; events: number };
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
  /** Refuse with a QMP error (GenericError unless told otherwise). */
  | { action: 'error'; class?: QmpErrorClass; desc: string };

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

export interface Plugin {
  readonly name: string;
  /**
   * qmpmux's own commands this plugin answers (full names, `${ctx.commandPrefix}…`): a name, or an
   * OwnCommand with QAPI-like argument and return types. Declared so that others can list them
   * (ProxyApi.ownCommands), e.g. the policy plugin in `query-commands`, and so that the core adds them
   * to QEMU's `query-commands` and `query-qmp-schema` replies (see introspection.ts).
   */
  readonly commands?: readonly OwnCommandDeclaration[];
  /**
   * Take new options at run time (config reload, SIGHUP), already validated by the definition. Apply
   * them whole or throw without changing anything. A plugin without this hook keeps its options: a
   * reload that changes them is refused (restart instead). See Proxy.reload.
   */
  reconfigure?(options: unknown): Promise<void>;
  onClientConnect?(client: ClientInfo): Promise<ConnectVerdict | void>;
  onNegotiated?(client: ClientInfo): Promise<void>;
  onCommand?(cmd: CommandContext): Promise<CommandVerdict | void>;
  onReply?(reply: ReplyContext): Promise<ReplyVerdict | void>;
  onEvent?(event: QmpEvent): Promise<void>;
  onClientDisconnect?(client: ClientInfo): Promise<void>;
  /** Called at shutdown, in reverse order. */
  close?(): Promise<void>;
}

/** What the proxy offers a plugin. */
export interface ProxyApi {
  /** Run a command on QEMU for the plugin itself (no hooks); rejects with QmpCommandError or UpstreamLostError. */
  execute(command: string, args?: Record<string, JsonPlain>, opts?: { fds?: number[] }): Promise<JsonPlain>;
  readonly clients: ReadonlyMap<number, ClientInfo>;
  /** Every event, after the onEvent hooks ran, in order. */
  readonly events$: Observable<QmpEvent>;
  readonly upstreamState$: Observable<UpstreamState>;
  /** query-version's return from the current link. */
  readonly upstreamVersion: JsonPlain | undefined;
  /**
   * Deliver events to one negotiated client now, ahead of any later live event; events whose seq the
   * client has already had are skipped, so replay and live delivery never duplicate. Returns how many went.
   */
  deliverEvents(clientId: number, events: readonly QmpEvent[]): number;
  /** Highest event seq assigned so far. */
  readonly lastEventSeq: number;
  /**
   * Number the following events after `seq` (never lowers the counter): for a plugin whose history
   * outlives the process (event-replay's journal), so seqs stay unique across qmpmux restarts. Call it
   * from `create()`, before any event arrives; a later call only ever raises the counter.
   */
  continueEventSeq(seq: number): void;
  /** Disconnect a client (with a log line naming the reason). */
  disconnect(clientId: number, reason: string): void;
  /** qmpmux's own commands: every plugin's `commands`, in plugin order, each name once. */
  readonly ownCommands: readonly string[];
}

export interface PluginContext {
  readonly name: string;
  /** The VM this proxy fronts (the config's `name`, or a `vms[]` entry's; `"default"` when unnamed). */
  readonly vm: string;
  readonly log: Logger;
  readonly proxy: ProxyApi;
  /** Prefix for qmpmux's own QMP commands (a QAPI downstream extension name). */
  readonly commandPrefix: string;
}

/** How a plugin is described to the config loader. */
export interface PluginDefinition<O = unknown> {
  readonly name: string;
  /** Plugins that must be configured before this one. */
  readonly requires?: readonly string[];
  /** Validate and normalise options; throw ConfigError naming the bad field's path. */
  validate(options: unknown, path: string): O;
  create(options: O, ctx: PluginContext): Plugin | Promise<Plugin>;
}

/** qmpmux's own commands are named with this QAPI downstream-extension prefix. */
export const COMMAND_PREFIX = '__org.qmpmux_';
