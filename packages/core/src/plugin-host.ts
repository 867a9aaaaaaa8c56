/**
 * Runs plugin hooks in the order their style prescribes (HOOKS in types.ts), tagging errors with the
 * plugin and the hook, and routes qmpmux's own commands to the plugin that declares them.
 */
import { COMMAND_PREFIX, HOOKS, type ClientInfo, type CommandContext, type CommandVerdict, type ConnectVerdict, type HookName, type Plugin, type QmpEvent, type ReplyContext, type ReplyVerdict } from './types.ts';
import { refuse } from './errors.ts';
import { checkArguments, type ArgsOf, type OwnCommand } from './own-command.ts';
import { collectOwnCommands } from './introspection.ts';
import type { Logger } from './log.ts';

export class PluginError extends Error {
  constructor(
    readonly plugin: string,
    readonly hook: string,
    override readonly cause: unknown,
  ) {
    super(`plugin '${plugin}' failed in ${hook}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

type Hooked<H extends HookName> = Plugin & { [K in H]-?: NonNullable<Plugin[K]> };

export class PluginHost {
  /** Each hook's plugins, in the order HOOKS gives it (reconfigure is the proxy's: see Proxy.reload). */
  private readonly chains: { [H in Exclude<HookName, 'reconfigure'>]: Hooked<H>[] };
  /** The plugins that see commands (an onCommand hook or own commands), in order, with their indexes. */
  private readonly commandChain: { plugin: Plugin; index: number; own: ReadonlyMap<string, OwnCommand> }[];
  private readonly owned = new Set<string>();
  /** Every plugin's own commands, in plugin order, each name once (introspection adds them). */
  readonly ownCommands: readonly OwnCommand[];

  constructor(
    readonly plugins: readonly Plugin[],
    private readonly log: Logger,
  ) {
    const chain = <H extends HookName>(h: H): Hooked<H>[] => {
      const list = plugins.filter((p): p is Hooked<H> => typeof p[h] === 'function');
      return HOOKS[h].order === 'reverse' ? list.reverse() : list;
    };
    this.chains = {
      onClientConnect: chain('onClientConnect'),
      onNegotiated: chain('onNegotiated'),
      onCommand: chain('onCommand'),
      onReply: chain('onReply'),
      onEvent: chain('onEvent'),
      onClientDisconnect: chain('onClientDisconnect'),
      close: chain('close'),
    };
    this.commandChain = [];
    for (const [index, plugin] of plugins.entries()) {
      const own = new Map<string, OwnCommand>();
      for (const c of plugin.commands ?? []) {
        if (this.owned.has(c.name)) continue; // the first declaration wins (as in introspection)
        this.owned.add(c.name);
        own.set(c.name, c);
      }
      if (plugin.onCommand || own.size) this.commandChain.push({ plugin, index, own });
    }
    this.ownCommands = collectOwnCommands(plugins);
  }

  get hasCommandHooks(): boolean {
    return this.commandChain.length > 0;
  }
  get hasReplyHooks(): boolean {
    return this.chains.onReply.length > 0;
  }
  get hasEventHooks(): boolean {
    return this.chains.onEvent.length > 0;
  }

  /** In order; the first refusal wins. A throwing hook refuses (fail closed). */
  async clientConnect(client: ClientInfo): Promise<ConnectVerdict | void> {
    for (const p of this.chains.onClientConnect) {
      try {
        const v = await p.onClientConnect(client);
        if (v) return v;
      } catch (e) {
        const err = new PluginError(p.name, 'onClientConnect', e);
        this.log.error(err.message);
        return { action: 'refuse', reason: err.message };
      }
    }
  }

  async negotiated(client: ClientInfo): Promise<void> {
    for (const p of this.chains.onNegotiated) await this.quietly(p, 'onNegotiated', () => p.onNegotiated(client));
  }

  /**
   * In order. Returns the final verdict (with the command/arguments after rewrites) and how many
   * plugins saw the command (replies pass back through those, in reverse). At the plugin that declares
   * the command (after any rewrite), once its own onCommand hook let it through, the core checks the
   * arguments and runs it there; an undeclared
   * `__org.qmpmux_` name that reaches the end is refused as QEMU refuses an unknown command. A throwing
   * hook or command refuses the command (fail closed).
   */
  async command(cmd: CommandContext): Promise<{ verdict: CommandVerdict; answeredBy: number }> {
    let command = cmd.command;
    let args = cmd.arguments;
    let rewritten = false;
    for (const { plugin: p, index, own } of this.commandChain) {
      const current = () => (rewritten ? { ...cmd, command, arguments: args } : cmd);
      if (p.onCommand) {
        let v: CommandVerdict | void;
        try {
          v = await p.onCommand(current());
        } catch (e) {
          return { verdict: this.failed(p, 'onCommand', e), answeredBy: index };
        }
        if (v && v.action !== 'continue') return { verdict: v, answeredBy: index };
        if (v && (v.command !== undefined || v.arguments !== undefined)) {
          command = v.command ?? command;
          args = v.arguments ?? args;
          rewritten = true;
        }
      }
      const mine = own.get(command);
      if (mine) return { verdict: await this.runOwn(p, mine, current()), answeredBy: index };
    }
    if (command.startsWith(COMMAND_PREFIX)) return { verdict: refuse('COMMAND_NOT_FOUND', command), answeredBy: this.plugins.length };
    return { verdict: rewritten ? { action: 'continue', command, arguments: args } : { action: 'continue' }, answeredBy: this.plugins.length };
  }

  private async runOwn(p: Plugin, c: OwnCommand, cmd: CommandContext): Promise<CommandVerdict> {
    if (cmd.oob && !c.allowOob) return refuse('NO_OOB', c.name);
    const checked = checkArguments(c.data, cmd.arguments);
    if (!checked.ok) return checked.refusal;
    try {
      return await c.run(checked.values as ArgsOf<typeof c.data>, cmd);
    } catch (e) {
      return this.failed(p, c.name, e);
    }
  }

  private failed(p: Plugin, hook: string, e: unknown): CommandVerdict {
    const err = new PluginError(p.name, hook, e);
    this.log.error(err.message);
    return refuse('PLUGIN_FAILED', p.name, hook, err.cause instanceof Error ? err.cause.message : String(err.cause));
  }

  /**
   * Reverse order, over the plugins before `answeredBy` (the plugin that answered locally, or all of
   * them for a reply from QEMU). Each sees the previous replacement; the last replacement wins.
   */
  async reply(ctx: ReplyContext, answeredBy: number): Promise<ReplyVerdict | void> {
    let verdict: ReplyVerdict | void = undefined;
    let current = ctx;
    for (const p of this.chains.onReply) {
      if (this.plugins.indexOf(p) >= answeredBy) continue;
      const v = await this.quietly(p, 'onReply', () => p.onReply(current));
      if (v) {
        verdict = v;
        const result = 'error' in v ? { error: v.error } : { return: v.return };
        // What the next plugins see is no longer the cached answer: nothing of theirs is kept.
        current = { ...current, result: () => result, memo: (_key, compute) => compute() };
      }
    }
    return verdict;
  }

  async event(ev: QmpEvent): Promise<void> {
    for (const p of this.chains.onEvent) await this.quietly(p, 'onEvent', () => p.onEvent(ev));
  }

  async clientDisconnect(client: ClientInfo): Promise<void> {
    for (const p of this.chains.onClientDisconnect) await this.quietly(p, 'onClientDisconnect', () => p.onClientDisconnect(client));
  }

  async close(): Promise<void> {
    for (const p of this.chains.close) await this.quietly(p, 'close', () => p.close());
  }

  private async quietly<T>(p: Plugin, hook: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (e) {
      this.log.error(new PluginError(p.name, hook, e).message);
      return undefined;
    }
  }
}
