/**
 * plugins/clients — who is connected. Answers `__org.qmpmux_query-clients` locally with one entry per
 * client: id, transport, address, pid/uid/gid (unix), principal, negotiated, oob, connected-at and
 * counters. Options: { "includeSelf": true } — list the asking client too (default true).
 */
import { validate as v, type PluginDefinition, type JsonPlain } from '@qmpmux/core';

export interface ClientsOptions {
  includeSelf: boolean;
}

export const clientsPlugin: PluginDefinition<ClientsOptions> = {
  name: 'clients',
  validate(options, path) {
    const o = v.object(options, path, ['includeSelf']);
    return { includeSelf: v.bool(o.includeSelf, `${path}.includeSelf`, true) };
  },
  create(options, ctx) {
    const command = `${ctx.commandPrefix}query-clients`;
    return {
      name: 'clients',
      commands: [
        {
          name: command,
          returns: [
            {
              id: 'int',
              transport: 'str',
              address: 'str',
              negotiated: 'bool',
              oob: 'bool',
              'connected-at': 'int',
              commands: 'int',
              events: 'int',
              '*pid': 'int',
              '*uid': 'int',
              '*gid': 'int',
              '*principal': 'str',
            },
          ],
        },
      ],
      async onCommand(cmd) {
        if (cmd.command !== command) return;
        if (cmd.arguments && Object.keys(cmd.arguments).length) {
          return { action: 'error', desc: `Parameter '${Object.keys(cmd.arguments)[0]}' is unexpected` };
        }
        const list: JsonPlain[] = [];
        for (const c of ctx.proxy.clients.values()) {
          if (!options.includeSelf && c.id === cmd.client.id) continue;
          const e: Record<string, JsonPlain> = {
            id: c.id,
            transport: c.peer.transport,
            address: c.peer.address,
            negotiated: c.negotiated,
            oob: c.oob,
            'connected-at': Math.floor(c.connectedAt.getTime() / 1000),
            commands: c.stats.commands,
            events: c.stats.events,
          };
          if (c.peer.pid !== undefined) Object.assign(e, { pid: c.peer.pid, uid: c.peer.uid!, gid: c.peer.gid! });
          if (c.principal !== undefined) e.principal = c.principal;
          list.push(e);
        }
        return { action: 'reply', return: list };
      },
    };
  },
};

export default clientsPlugin;
