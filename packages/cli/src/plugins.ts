/** Every plugin this build knows, by config name. Each plugin package adds its line here. */
import type { PluginDefinition } from '@qmpmux/core';
import { clientsPlugin } from '@qmpmux/plugin-clients';
import { policyPlugin } from '@qmpmux/plugin-policy';
import { addClientAuthPlugin } from '@qmpmux/plugin-add-client-auth';
import { hmpAuditPlugin } from '@qmpmux/plugin-hmp-audit';
import { eventReplayPlugin } from '@qmpmux/plugin-event-replay';
import { fdsetsPlugin } from '@qmpmux/plugin-fdsets';

export const AVAILABLE_PLUGINS: PluginDefinition<any>[] = [clientsPlugin, policyPlugin, addClientAuthPlugin, hmpAuditPlugin, eventReplayPlugin, fdsetsPlugin];
