/**
 * plugins/add-client-auth — who may hand QEMU a connection with `add_client`, and how (rules.ts), and a
 * guarantee that the fd QEMU gets is a socket.
 *
 * QEMU cannot be asked what an fd it holds is, and QEMU 7.2 does not check that add_client's fd is a
 * socket. So qmpmux checks when the fd passes through it: on every `getfd` this plugin fstat()s the fd
 * the client sent (CommandContext.fds) and, when QEMU accepts the getfd, remembers for that fd name
 * which client gave it and whether it was a socket (closefd, add_client — which consumes the name even
 * when it fails — and the client's departure forget it). An add_client is refused unless its fd name
 * was last given by the same client and was a socket.
 *
 * Named fds live in one list per QEMU monitor, and qmpmux is one monitor for all its clients: without
 * renaming, client B's `getfd x` replaces client A's fd `x`. The record is therefore kept per name,
 * monitor-wide, with its owner, so A's add_client of `x` is then refused. A plugin that renames fds per
 * client (fd-sets) should come before this one, so that the names seen here are the names QEMU sees;
 * after it, collisions between clients' names are only refused more often than needed (fail closed).
 *
 * Every decision is logged with client, principal, arguments and reason. Requires the policy plugin
 * (principals), configured before this one so that a command the policy refuses never gets here.
 */
import { fdType } from '@qmpmux/unixfd';
import { refuse, type ClientInfo, type JsonPlain, type PluginDefinition } from '@qmpmux/core';
import { decideAddClient, parseAddClientOptions, type AddClientOptions } from './rules.ts';

export { decideAddClient, parseAddClientOptions, DISPLAY_PROTOCOLS, type AddClientOptions, type AddClientRule, type AddClientDecision } from './rules.ts';

const NAME = 'add-client-auth';

/** An fd name in QEMU's monitor list: who gave it with getfd, and the fd's fstat type. */
interface NamedFd {
  client: number;
  type: string;
}

/** What onCommand leaves for onReply in CommandContext.state. */
interface Pending {
  kind: 'getfd' | 'closefd' | 'add_client';
  fdname: string;
  type?: string;
}

export const addClientAuthPlugin: PluginDefinition<AddClientOptions> = {
  name: NAME,
  requires: ['policy'],
  validate: parseAddClientOptions,
  create(initial, ctx) {
    let opts = initial;
    const log = ctx.log;
    const named = new Map<string, NamedFd>();
    const typeFor = (c: ClientInfo, name: string) => {
      const r = named.get(name);
      if (!r) return undefined;
      return r.client === c.id ? r.type : { problem: `was last given by another client (${r.client})` };
    };
    const fdname = (args: Record<string, JsonPlain> | undefined) => (typeof args?.fdname === 'string' ? args.fdname : undefined);

    return {
      name: NAME,

      async onCommand(cmd) {
        const name = fdname(cmd.arguments);
        switch (cmd.command) {
          case 'getfd':
            if (name !== undefined) cmd.state.set(NAME, { kind: 'getfd', fdname: name, type: cmd.fds.length ? fdType(cmd.fds[0]!) : undefined } satisfies Pending);
            return;
          case 'closefd':
            if (name !== undefined) cmd.state.set(NAME, { kind: 'closefd', fdname: name } satisfies Pending);
            return;
          case 'add_client': {
            const client = cmd.client;
            const d = decideAddClient(opts, client.principal, cmd.arguments, (n) => typeFor(client, n));
            const fields = { client: client.id, principal: client.principal ?? null, arguments: cmd.arguments ?? {}, reason: d.reason };
            if (!d.allowed) {
              log.warn('add_client refused', fields);
              return refuse('ADD_CLIENT_REFUSED', client.principal ?? '(none)', d.reason);
            }
            log.info('add_client allowed', fields);
            cmd.state.set(NAME, { kind: 'add_client', fdname: name! } satisfies Pending);
            return;
          }
        }
      },

      async onReply(reply) {
        const p = reply.command.state.get(NAME) as Pending | undefined;
        if (!p) return;
        const ok = 'return' in reply.result();
        if (p.kind === 'add_client') named.delete(p.fdname); // QEMU consumes the name even when add_client fails
        else if (p.kind === 'closefd' && ok) named.delete(p.fdname);
        else if (p.kind === 'getfd' && ok) {
          if (p.type === undefined) named.delete(p.fdname);
          else named.set(p.fdname, { client: reply.command.client.id, type: p.type });
        }
      },

      async onClientDisconnect(client) {
        for (const [name, r] of named) if (r.client === client.id) named.delete(name);
      },

      async reconfigure(next) {
        opts = next;
        log.info('add_client rules reloaded', { principals: [...opts.principals.keys()] });
      },
    };
  },
};

export default addClientAuthPlugin;
