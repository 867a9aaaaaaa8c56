/**
 * plugins/clients — who is connected. Answers `__org.qmpmux_query-clients` locally with one entry per
 * client: id, transport, address, pid/uid/gid (unix), certificate subject (TLS), principal, negotiated, oob, connected-at and
 * counters. Options: { "includeSelf": true } — list the asking client too (default true).
 */
import { answer, ownCommand, peerRecord, PEER_RECORD_TYPE, validate as v, type PluginDefinition, type JsonPlain } from '@qmpmux/core';

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
    return {
      name: 'clients',
      commands: [
        ownCommand({
          name: `${ctx.commandPrefix}query-clients`,
          returns: [
            {
              id: 'int',
              ...PEER_RECORD_TYPE,
              negotiated: 'bool',
              oob: 'bool',
              'connected-at': 'int',
              commands: 'int',
              events: 'int',
              '*principal': 'str',
            },
          ],
          async run(_args, cmd) {
            const list: JsonPlain[] = [];
            for (const c of ctx.proxy.clients.values()) {
              if (!options.includeSelf && c.id === cmd.client.id) continue;
              const e: Record<string, JsonPlain> = {
                id: c.id,
                ...peerRecord(c.peer),
                negotiated: c.negotiated,
                oob: c.oob,
                'connected-at': Math.floor(c.connectedAt.getTime() / 1000),
                commands: c.stats.commands,
                events: c.stats.events,
              };
              if (c.principal !== undefined) e.principal = c.principal;
              list.push(e);
            }
            return answer(list);
          },
        }),
      ],
    };
  },
};

export default clientsPlugin;
