/**
 * plugins/policy — principals and command policy.
 *
 * Without this plugin qmpmux is transparent: every client may run everything, and the unix socket's
 * file mode is the gate, as with QEMU's own socket. With it:
 * - onClientConnect maps each connection to the first principal that matches it (see match.ts) and sets
 *   ClientInfo.principal; a virtual client (a plugin's in-process client, e.g. the NATS gateway) is the
 *   principal it was opened as, when the policy names it. A connection that matches none is refused before the greeting, unless
 *   `unmatched` names a fallback principal. Refusing is the default because a connection nobody named
 *   comes from someone the operator did not plan for: even read-only access shows block device paths,
 *   chardevs and the VM's event stream. A fallback is an explicit choice.
 * - onCommand checks every command (in-band and exec-oob) against the principal's rules (rules.ts)
 *   before it reaches QEMU or a later plugin; a refusal is a GenericError naming command and principal.
 * - onReply filters `query-commands` and the command entries of `query-qmp-schema` to what the
 *   principal may run, and appends qmpmux's own commands to query-commands
 *   (ProxyApi.ownCommands) that it may run.
 * - `__org.qmpmux_query-principal` answers `{"principal": NAME}` for the asking connection.
 * - reconfigure (SIGHUP) swaps the whole policy at once and maps connected clients again: a client
 *   whose connection no longer matches any principal stays connected, but every command it sends is
 *   refused.
 * Options: see options.ts.
 */
import { answer, ownCommand, refuse, type ClientInfo, type JsonPlain, type Peer, type PluginContext, type PluginDefinition } from '@qmpmux/core';
import { describePeer } from './match.ts';
import { parsePolicyOptions, type PolicyOptions, type Principal } from './options.ts';
import { decide } from './rules.ts';

export { parsePolicyOptions, MIN_TOKEN_LENGTH, type PolicyOptions, type Principal } from './options.ts';
export { decide, glob, PROFILES, PROFILE_NAMES, type ProfileName, type CommandRules } from './rules.ts';
export { describePeer, subjectAttributes } from './match.ts';
export { lookupUser, lookupGroup } from './identity.ts';

const ATTR = 'policy';

/** What the plugin keeps per client (ClientInfo.attributes.get('policy')). */
export interface ClientPolicy {
  /** undefined: no principal (only after a reload). */
  principal: string | undefined;
  /** How it was chosen, for logs: `uid 1000`, `unmatched fallback`, … */
  via: string;
}

/**
 * The first principal that matches, and the criteria that matched. A virtual client (a plugin's
 * in-process client, ProxyApi.openVirtualClient) is the principal it was opened as, when the policy
 * names that principal; otherwise it matches none (no `unmatched` fallback: its identity is explicit).
 */
export function resolvePrincipal(opts: PolicyOptions, peer: Peer): ClientPolicy | undefined {
  if (peer.transport === 'virtual') {
    const name = peer.virtual?.principal;
    return opts.principals.some((p) => p.name === name) ? { principal: name, via: `virtual client via ${peer.virtual!.via}` } : undefined;
  }
  for (const p of opts.principals) {
    for (const entry of p.match) {
      if (entry.length && entry.every((c) => c.test(peer))) return { principal: p.name, via: entry.map((c) => c.what).join(' and ') };
    }
  }
  if (opts.unmatched !== undefined) return { principal: opts.unmatched, via: 'unmatched fallback' };
  return undefined;
}

export const policyPlugin: PluginDefinition<PolicyOptions> = {
  name: 'policy',
  validate: parsePolicyOptions,
  // Without an `unmatched` fallback every connection must match a principal (uid, certificate, token).
  authenticates: (o) => o.unmatched === undefined,
  create(initial, ctx: PluginContext) {
    const log = ctx.log;
    let opts = initial;
    let byName = new Map(opts.principals.map((p) => [p.name, p]));
    for (const w of opts.warnings) log.warn(w);

    const state = (c: ClientInfo) => c.attributes.get(ATTR) as ClientPolicy | undefined;
    const assign = (c: ClientInfo, s: ClientPolicy) => {
      c.attributes.set(ATTR, s);
      c.principal = s.principal;
    };
    const permitted = (p: Principal | undefined, command: string) => (p ? decide(p, command).permitted : false);

    return {
      name: 'policy',
      commands: [
        ownCommand({
          name: `${ctx.commandPrefix}query-principal`,
          returns: { principal: 'str' },
          // onCommand below has let it through, so the client has a principal.
          run: async (_args, cmd) => answer({ principal: state(cmd.client)!.principal! }),
        }),
      ],

      async onClientConnect(client) {
        const s = resolvePrincipal(opts, client.peer);
        if (!s) {
          const reason = `no principal matches this connection (${describePeer(client.peer)})`;
          log.info('connection refused', { client: client.id, reason });
          return { action: 'refuse', reason };
        }
        assign(client, s);
        log.info('client connected', { client: client.id, principal: s.principal, via: s.via, peer: describePeer(client.peer) });
      },

      async onCommand(cmd) {
        const s = state(cmd.client);
        const principal = s?.principal;
        if (principal === undefined) {
          log.info('command refused', { client: cmd.client.id, command: cmd.command, why: 'no principal' });
          return refuse('NO_PRINCIPAL_SINCE_RELOAD', cmd.command);
        }
        const d = decide(byName.get(principal)!, cmd.command);
        if (!d.permitted) {
          log.info('command refused', { client: cmd.client.id, principal, command: cmd.command, why: d.why });
          return refuse('NOT_PERMITTED', cmd.command, principal);
        }
        log.debug('command permitted', { client: cmd.client.id, principal, command: cmd.command, why: d.why });
      },

      async onReply(reply) {
        const what = reply.command.command;
        if (what !== 'query-commands' && what !== 'query-qmp-schema') return;
        const r = reply.result();
        if (!('return' in r) || !Array.isArray(r.return)) return;
        const p = byName.get(state(reply.command.client)?.principal ?? '');
        if (what === 'query-qmp-schema') {
          // Command entries the principal may not run are left out; types and events stay (they
          // describe data, and type names are masked anyway). qmpmux's own commands are already in
          // the schema (the core adds them before any plugin sees the reply).
          const kept = r.return.filter((e) => {
            const o = e as { name?: unknown; 'meta-type'?: unknown } | null;
            return o?.['meta-type'] !== 'command' || (typeof o.name === 'string' && permitted(p, o.name));
          });
          return kept.length === r.return.length ? undefined : { action: 'replace', return: kept };
        }
        const names = new Set<string>();
        const list: JsonPlain[] = [];
        for (const e of r.return) {
          const name = (e as { name?: unknown } | null)?.name;
          if (typeof name !== 'string' || !permitted(p, name)) continue;
          names.add(name);
          list.push(e);
        }
        for (const name of ctx.proxy.ownCommands) if (!names.has(name) && permitted(p, name)) list.push({ name });
        return { action: 'replace', return: list };
      },

      async reconfigure(n) {
        opts = n;
        byName = new Map(n.principals.map((p) => [p.name, p]));
        for (const w of n.warnings) log.warn(w);
        for (const c of ctx.proxy.clients.values()) {
          const before = state(c);
          if (!before) continue;
          const after = resolvePrincipal(n, c.peer) ?? { principal: undefined, via: 'no principal matches any more' };
          if (after.principal !== before.principal) {
            log.info('client principal changed by reload', { client: c.id, from: before.principal ?? null, to: after.principal ?? null, via: after.via });
          }
          assign(c, after);
        }
        log.info('policy reloaded', { principals: n.principals.map((p) => p.name), unmatched: n.unmatched ?? 'refuse' });
      },
    };
  },
};

export default policyPlugin;
