/** Runs plugin hooks in the order their type prescribes (see types.ts), tagging errors with plugin and hook. */
import type { ClientInfo, CommandContext, CommandVerdict, ConnectVerdict, Plugin, QmpEvent, ReplyContext, ReplyVerdict } from './types.ts';
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

export class PluginHost {
  private readonly commandHooks: Plugin[];
  private readonly replyHooks: Plugin[]; // reverse order
  private readonly eventHooks: Plugin[]; // reverse order
  private readonly connectHooks: Plugin[];
  private readonly negotiatedHooks: Plugin[];
  private readonly disconnectHooks: Plugin[]; // reverse order

  constructor(
    readonly plugins: readonly Plugin[],
    private readonly log: Logger,
  ) {
    const rev = [...plugins].reverse();
    this.commandHooks = plugins.filter((p) => p.onCommand);
    this.replyHooks = rev.filter((p) => p.onReply);
    this.eventHooks = rev.filter((p) => p.onEvent);
    this.connectHooks = plugins.filter((p) => p.onClientConnect);
    this.negotiatedHooks = plugins.filter((p) => p.onNegotiated);
    this.disconnectHooks = rev.filter((p) => p.onClientDisconnect);
  }

  get hasCommandHooks(): boolean {
    return this.commandHooks.length > 0;
  }
  get hasReplyHooks(): boolean {
    return this.replyHooks.length > 0;
  }
  get hasEventHooks(): boolean {
    return this.eventHooks.length > 0;
  }

  /** In order; the first refusal wins. A throwing hook refuses (fail closed). */
  async clientConnect(client: ClientInfo): Promise<ConnectVerdict | void> {
    for (const p of this.connectHooks) {
      try {
        const v = await p.onClientConnect!(client);
        if (v) return v;
      } catch (e) {
        const err = new PluginError(p.name, 'onClientConnect', e);
        this.log.error(err.message);
        return { action: 'refuse', reason: err.message };
      }
    }
  }

  async negotiated(client: ClientInfo): Promise<void> {
    for (const p of this.negotiatedHooks) await this.quietly(p, 'onNegotiated', () => p.onNegotiated!(client));
  }

  /**
   * In order. Returns the final verdict, the arguments/command after rewrites, and how many plugins
   * saw the command (replies pass those in reverse). A throwing hook refuses the command.
   */
  async command(cmd: CommandContext): Promise<{ verdict: CommandVerdict; answeredBy: number }> {
    let command = cmd.command;
    let args = cmd.arguments;
    let rewritten = false;
    for (const p of this.commandHooks) {
      let v: CommandVerdict | void;
      try {
        v = await p.onCommand!(rewritten ? { ...cmd, command, arguments: args } : cmd);
      } catch (e) {
        const err = new PluginError(p.name, 'onCommand', e);
        this.log.error(err.message);
        return { verdict: { action: 'error', desc: `qmpmux: ${err.message}` }, answeredBy: this.plugins.indexOf(p) };
      }
      if (!v || v.action === 'continue') {
        if (v && (v.command !== undefined || v.arguments !== undefined)) {
          command = v.command ?? command;
          args = v.arguments ?? args;
          rewritten = true;
        }
        continue;
      }
      return { verdict: v, answeredBy: this.plugins.indexOf(p) };
    }
    return { verdict: rewritten ? { action: 'continue', command, arguments: args } : { action: 'continue' }, answeredBy: this.plugins.length };
  }

  /**
   * Reverse order, over the plugins before `answeredBy` (the plugin that answered locally, or all of
   * them for a reply from QEMU). Each sees the previous replacement; the last replacement wins.
   */
  async reply(ctx: ReplyContext, answeredBy: number): Promise<ReplyVerdict | void> {
    let verdict: ReplyVerdict | void = undefined;
    let current = ctx;
    for (const p of this.replyHooks) {
      if (this.plugins.indexOf(p) >= answeredBy) continue;
      const v = await this.quietly(p, 'onReply', () => p.onReply!(current));
      if (v) {
        verdict = v;
        const result = 'error' in v ? { error: v.error } : { return: v.return };
        current = { ...current, result: () => result };
      }
    }
    return verdict;
  }

  async event(ev: QmpEvent): Promise<void> {
    for (const p of this.eventHooks) await this.quietly(p, 'onEvent', () => p.onEvent!(ev));
  }

  async clientDisconnect(client: ClientInfo): Promise<void> {
    for (const p of this.disconnectHooks) await this.quietly(p, 'onClientDisconnect', () => p.onClientDisconnect!(client));
  }

  async close(): Promise<void> {
    for (const p of [...this.plugins].reverse()) if (p.close) await this.quietly(p, 'close', () => p.close!());
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
