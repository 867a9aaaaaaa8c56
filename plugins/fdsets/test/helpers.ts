/** Test helpers: the plugin with a handle on its instance, a spy plugin, and what QEMU holds. */
import { readdirSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PluginContext, PluginDefinition, PluginSpec, ReplyContext, CommandContext, JsonPlain } from '@qmpmux/core';
import { createFdsetsPlugin, fdsetsPlugin, type FdsetsOptions, type FdsetsPlugin } from '../src/index.ts';

/** The fdsets plugin as a PluginSpec, and the instance the proxy created from it. */
export function fdsets(options: Partial<FdsetsOptions> = {}): { spec: PluginSpec; instance(): FdsetsPlugin } {
  let made: FdsetsPlugin | undefined;
  const definition: PluginDefinition<FdsetsOptions> = { ...fdsetsPlugin, create: (o, ctx) => (made = createFdsetsPlugin(o, ctx)) };
  return {
    spec: { definition, options },
    instance: () => {
      if (!made) throw new Error('fdsets plugin not created yet');
      return made;
    },
  };
}

/** A plugin to place around fdsets: records the commands it sees, and may act on commands and replies. */
export interface Spy {
  spec: PluginSpec;
  seen: { command: string; arguments: Record<string, JsonPlain> | undefined }[];
  onCommand: ((cmd: CommandContext, ctx: PluginContext) => Promise<void>) | undefined;
  onReply: ((r: ReplyContext, ctx: PluginContext) => Promise<void>) | undefined;
}

export function spy(name = 'spy'): Spy {
  const s: Spy = { seen: [], onCommand: undefined, onReply: undefined, spec: undefined as unknown as PluginSpec };
  const definition: PluginDefinition = {
    name,
    validate: () => ({}),
    create: (_o, ctx) => ({
      name,
      async onCommand(cmd: CommandContext) {
        s.seen.push({ command: cmd.command, arguments: cmd.arguments });
        await s.onCommand?.(cmd, ctx);
      },
      async onReply(r: ReplyContext) {
        await s.onReply?.(r, ctx);
      },
    }),
  };
  s.spec = { definition };
  return s;
}

/** What an fd of ours is, as /proc shows it (`pipe:[123]`, `socket:[456]`): read it before passing the fd. */
export function fdIdentity(fd: number): string {
  return readlinkSync(`/proc/self/fd/${fd}`);
}

/** Does process `pid` hold an fd that is the same pipe or socket as `identity`? */
export function holds(pid: number, identity: string): boolean {
  for (const f of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${f}`) === identity) return true;
    } catch {
      /* closed meanwhile */
    }
  }
  return false;
}

/** Poll until `cond` holds (state that settles asynchronously, such as a departed client's cleanup). */
export async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(5);
  }
}

export interface FdsetInfo {
  'fdset-id': number;
  fds: { fd: number; opaque?: string }[];
}
