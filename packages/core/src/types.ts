/**
 * The plugin contract. A plugin is a set of async hooks; how each hook runs is declared once, in
 * HOOKS below (the plugin host builds its order from that table, and the type-level tests check the
 * hooks' types against it), as Rollup declares its hook kinds:
 *
 * | hook               | order      | how it runs                                                   |
 * |--------------------|------------|---------------------------------------------------------------|
 * | onClientConnect    | in order   | one after another; the first `refuse` ends the chain          |
 * | onNegotiated       | in order   | one after another                                             |
 * | onCommand          | in order   | one after another; may rewrite; the first answer wins         |
 * | onReply            | reverse    | one after another; each may replace the reply                 |
 * | onEvent            | reverse    | one after another, before the event reaches any client        |
 * | onClientDisconnect | reverse    | one after another, every plugin                               |
 * | close              | reverse    | one after another, every plugin, at shutdown                  |
 *
 * Hooks are async only. A hook that throws is reported with the plugin's and the hook's name; in
 * onClientConnect and onCommand that refuses the connection or the command (fail closed), elsewhere
 * the proxy logs it and goes on as if the hook had returned nothing.
 *
 * What the hooks are given (ClientInfo, CommandContext, ReplyContext, QmpEvent) and the verdicts they
 * answer with are in hook-context.ts; a plugin's own commands (`commands`), routed by the core, in
 * own-command.ts.
 */
import type { Observable } from 'rxjs';
import type { JsonPlain, QmpErrorClass } from '@qmpmux/protocol';
import type { Peer } from '@qmpmux/transports';
import type { Logger } from './log.ts';
import type { ClientInfo, CommandContext, CommandVerdict, ConnectVerdict, QmpEvent, ReplyContext, ReplyVerdict } from './hook-context.ts';
import type { OwnCommand } from './own-command.ts';
import type { UpstreamState } from './upstream-state.ts';
import type { PluginMetrics } from './observe.ts';

export type { JsonPlain, QmpErrorClass, Peer };
export type { ClientInfo, CommandContext, CommandVerdict, ConnectVerdict, QmpEvent, ReplyContext, ReplyVerdict };

/** The hooks, with the types they must have; `O` is the plugin's validated options type. */
export interface PluginHooks<O = unknown> {
  /**
   * Take new options at run time (config reload, SIGHUP), already validated by the definition. Apply
   * them whole or throw without changing anything. A plugin without this hook keeps its options: a
   * reload that changes them is refused (restart instead). See Proxy.reload.
   */
  reconfigure(options: O): Promise<void>;
  onClientConnect(client: ClientInfo): Promise<ConnectVerdict | void>;
  onNegotiated(client: ClientInfo): Promise<void>;
  onCommand(cmd: CommandContext): Promise<CommandVerdict | void>;
  onReply(reply: ReplyContext): Promise<ReplyVerdict | void>;
  onEvent(event: QmpEvent): Promise<void>;
  onClientDisconnect(client: ClientInfo): Promise<void>;
  /** At shutdown. */
  close(): Promise<void>;
}

export type HookName = keyof PluginHooks;

/** How a hook runs: its order over the plugins, what its result does, and what a throw means. */
export interface HookStyle {
  /** `forward`: plugin order; `reverse`: the opposite (so the first plugin has the last word). */
  readonly order: 'forward' | 'reverse';
  /** `first`: the first verdict ends the chain; `last`: each result replaces the previous, the last wins; `none`: results are ignored. */
  readonly result: 'first' | 'last' | 'none';
  /** May change what later hooks (and QEMU) see. */
  readonly rewrites: boolean;
  /** `refuse`: a throw refuses (fail closed); `log`: it is logged and ignored. */
  readonly onThrow: 'refuse' | 'log';
}

/** The run style of every hook: the one source the plugin host orders hooks by. */
export const HOOKS = {
  reconfigure: { order: 'forward', result: 'none', rewrites: false, onThrow: 'refuse' },
  onClientConnect: { order: 'forward', result: 'first', rewrites: false, onThrow: 'refuse' },
  onNegotiated: { order: 'forward', result: 'none', rewrites: false, onThrow: 'log' },
  onCommand: { order: 'forward', result: 'first', rewrites: true, onThrow: 'refuse' },
  onReply: { order: 'reverse', result: 'last', rewrites: true, onThrow: 'log' },
  onEvent: { order: 'reverse', result: 'none', rewrites: false, onThrow: 'log' },
  onClientDisconnect: { order: 'reverse', result: 'none', rewrites: false, onThrow: 'log' },
  close: { order: 'reverse', result: 'none', rewrites: false, onThrow: 'log' },
} as const satisfies { readonly [H in HookName]: HookStyle };

type HooksWhere<K extends keyof HookStyle, V> = { [H in HookName]: (typeof HOOKS)[H][K] extends V ? H : never }[HookName];
/** Hooks that run in plugin order. */
export type ForwardHook = HooksWhere<'order', 'forward'>;
/** Hooks that run in reverse plugin order. */
export type ReverseHook = HooksWhere<'order', 'reverse'>;
/** Hooks whose first verdict ends the chain (they may answer or refuse). */
export type FirstHook = HooksWhere<'result', 'first'>;
/** Hooks that may rewrite what the next ones see. */
export type RewritingHook = HooksWhere<'rewrites', true>;
/** Hooks whose throw refuses (fail closed). */
export type FailClosedHook = HooksWhere<'onThrow', 'refuse'>;

export interface Plugin<O = unknown> extends Partial<PluginHooks<O>> {
  readonly name: string;
  /**
   * qmpmux's own commands this plugin answers (full names, `${ctx.commandPrefix}…`), each with its
   * QAPI-like types and its `run` (declare them with ownCommand() for typed arguments). The core
   * routes them to this plugin at its place in the onCommand chain after checking the arguments
   * (own-command.ts), refuses undeclared `__org.qmpmux_` names as QEMU refuses an unknown command,
   * and adds them to `query-commands` and `query-qmp-schema` (introspection.ts).
   */
  readonly commands?: readonly OwnCommand[];
}

/** What the proxy offers a plugin. */
export interface ProxyApi {
  /** Run a command on QEMU for the plugin itself (no hooks); rejects with QmpCommandError or UpstreamLostError. */
  execute(command: string, args?: Record<string, JsonPlain>, opts?: { fds?: number[] }): Promise<JsonPlain>;
  readonly clients: ReadonlyMap<number, ClientInfo>;
  /** Every event, after the onEvent hooks ran, in order. */
  readonly events$: Observable<QmpEvent>;
  readonly upstreamState$: Observable<UpstreamState>;
  /** The link's state now. */
  readonly upstreamState: UpstreamState;
  /** QEMU's QMP address as configured (`unix:PATH`, `tcp:HOST:PORT`). */
  readonly upstreamAddress: string;
  /** Where clients connect, as bound (`unix:PATH`, `tcp:127.0.0.1:4445`, `ws://…`); empty before start. */
  readonly listenerAddresses: readonly string[];
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
  /**
   * Open an in-process client of this VM that runs commands exactly as a network client does: a real
   * session (greeting, negotiation, limits, metrics) through every plugin's hooks — the policy plugin
   * decides what it may run, hmp-audit records it — unlike `execute`, which skips them. Its peer is
   * `{ transport: 'virtual', address, virtual: { via, principal } }`: an identity no network client can
   * claim, which the policy plugin takes as the principal (and refuses the client when the policy
   * names no such principal). It is listed in `clients`, counts against maxClients, and receives no
   * events. Opened before the proxy starts, it connects when it starts. See virtual-client.ts.
   */
  openVirtualClient(opts: VirtualClientOptions): VirtualClient;
}

/** What a plugin declares when it opens a virtual client. */
export interface VirtualClientOptions {
  /** The principal it acts as (`ClientInfo.principal` from the start; Peer.virtual.principal). */
  principal: string;
  /** What carries its requests, for logs, metrics, audit records and error texts (e.g. `nats`). */
  via: string;
  /** `Peer.address` (e.g. the NATS subject it serves); default: `via`. */
  address?: string;
}

export type VirtualClientState = 'connecting' | 'ready' | 'closed';

/** An in-process client of one VM (ProxyApi.openVirtualClient). */
export interface VirtualClient {
  /** Its id in ProxyApi.clients; undefined until the proxy has started and connected it. */
  readonly id: number | undefined;
  /** `connecting` (greeting, negotiation, the plugins' onClientConnect), `ready`, `closed`. */
  readonly state: VirtualClientState;
  /**
   * Send one QMP command — the bytes a client would write — and get the bytes a client would read back
   * (line end included; the id echoed as QEMU echoes it). Never rejects: bytes that are not exactly one
   * JSON value get QEMU's parse error or NOT_ONE_REQUEST; an fd-taking command (getfd, add-fd)
   * NO_FD_PASSING; a refused or closed client the refusal or CLOSED_BEFORE_REPLY. Requests made while
   * one is running wait in order (in the session, as pipelined input): the caller bounds how many.
   */
  request(message: Buffer): Promise<Buffer>;
  /** Hang up; requests still waiting are answered CLOSED_BEFORE_REPLY. */
  close(): void;
  /** Settles (with the reason) when the client has closed, however it closed. */
  readonly closed: Promise<string>;
}

export interface PluginContext {
  readonly name: string;
  /** The VM this proxy fronts (the config's `name`, or a `vms[]` entry's; `"default"` when unnamed). */
  readonly vm: string;
  readonly log: Logger;
  readonly proxy: ProxyApi;
  /** Prefix for qmpmux's own QMP commands (a QAPI downstream extension name). */
  readonly commandPrefix: string;
  /** Counters for metrics (observe.ts): e.g. hmp-audit's records and write failures. */
  readonly metrics: PluginMetrics;
}

/**
 * How a plugin is described to the config loader. Placement is declared here and checked when the
 * proxy is built (a config that breaks it fails with a ConfigError naming both plugins).
 */
export interface PluginDefinition<O = unknown> {
  readonly name: string;
  /** Plugins that must be configured, before this one. */
  readonly requires?: readonly string[];
  /** Plugins that, when configured, must come after this one. */
  readonly before?: readonly string[];
  /** Plugins that, when configured, must come before this one. */
  readonly after?: readonly string[];
  /**
   * True when, with these options, the plugin refuses every connection it cannot identify (so a
   * listener on a non-loopback address is safe to open; see ProxyOptions.allowUnauthenticated).
   */
  authenticates?(options: O): boolean;
  /** Validate and normalise options; throw ConfigError naming the bad field's path. */
  validate(options: unknown, path: string): O;
  create(options: O, ctx: PluginContext): Plugin<O> | Promise<Plugin<O>>;
}

/** Define a plugin with its options type inferred from `validate` (an identity function). */
export function definePlugin<O>(def: PluginDefinition<O>): PluginDefinition<O> {
  return def;
}

/** qmpmux's own commands are named with this QAPI downstream-extension prefix. */
export const COMMAND_PREFIX = '__org.qmpmux_';
