/**
 * Every plugin this build knows, by config name. Each plugin package adds its line here, in the order
 * the placement rules want (policy first; fdsets before add-client-auth; nats after policy and hmp-audit): the CLI orders the default
 * plugins plus --plugin flags by it. */
import type { PluginDefinition } from '@qmpmux/core';
import { clientsPlugin } from '@qmpmux/plugin-clients';
import { policyPlugin } from '@qmpmux/plugin-policy';
import { addClientAuthPlugin } from '@qmpmux/plugin-add-client-auth';
import { hmpAuditPlugin } from '@qmpmux/plugin-hmp-audit';
import { eventReplayPlugin } from '@qmpmux/plugin-event-replay';
import { fdsetsPlugin } from '@qmpmux/plugin-fdsets';
import { natsPlugin } from '@qmpmux/plugin-nats';

export const AVAILABLE_PLUGINS: PluginDefinition<any>[] = [policyPlugin, clientsPlugin, hmpAuditPlugin, eventReplayPlugin, fdsetsPlugin, addClientAuthPlugin, natsPlugin];
