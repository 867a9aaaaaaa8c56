/**
 * plugins/nats — qmpmux on NATS JetStream (docs/nats.md): QEMU's events to a stream, the hmp-audit
 * log to another, commands by request/reply, and the VM's entry in a fleet inventory (KV).
 *
 * Nothing local waits for NATS: the connection is made and kept in the background (connection.ts);
 * events are taken off ProxyApi.events$ into a bounded buffer and published later (events.ts); a NATS
 * outage or a stopped server never slows or fails a local client's command or event.
 *
 * Placement: after policy and hmp-audit. Commands from NATS run on virtual clients, through every
 * plugin wherever this one sits; the order is about life: the audit log is open before this plugin
 * starts (so before the audit shipper and the first gateway request), and at shutdown this plugin
 * closes first — the gateway stops, pending events get a short grace to reach JetStream, the
 * inventory entry is deleted — before hmp-audit writes its `stop` record (which the shipper sends at
 * the next start, resuming from what the stream holds).
 */
import { hostname } from 'node:os';
import { ConfigError, answer, ownCommand, type Plugin, type PluginContext, type PluginDefinition } from '@qmpmux/core';
import { startAuditShipperThread } from './audit-thread.ts';
import { NatsLink } from './connection.ts';
import { EventPublisher } from './events.ts';
import { Gateway, type GatewayLimits } from './gateway.ts';
import { Inventory } from './inventory.ts';
import { validateOptions, type NatsOptions } from './options.ts';

const NAME = 'nats';
/** At a clean shutdown, how long events still held may take to reach JetStream (ms). */
export const CLOSE_GRACE_MS = 2_000;

/** Options a reload may change (the gateway's); any other change needs a restart. */
const RELOADABLE = ['gatewayPrincipal', 'maxGatewayConcurrency', 'maxGatewayQueue'] as const;

const gatewayLimits = (o: NatsOptions): GatewayLimits => ({ principal: o.gatewayPrincipal, maxConcurrent: o.maxGatewayConcurrency, maxQueued: o.maxGatewayQueue });

export const natsPlugin: PluginDefinition<NatsOptions> = {
  name: NAME,
  after: ['policy', 'hmp-audit'],
  validate: validateOptions,
  create: (o, ctx) => createNats(o, ctx),
};

export function createNats(initial: NatsOptions, ctx: PluginContext): Plugin<NatsOptions> {
  const vm = ctx.vm;
  if (vm.includes('.')) {
    throw new ConfigError('name', `the VM name '${vm}' contains '.', which cannot be one NATS subject token: the nats plugin needs a VM name without dots`);
  }
  let o = initial;
  const host = hostname();
  const epoch = Date.now();
  const log = ctx.log;
  const link = NatsLink.forPlugin(o, vm, log);
  const events = new EventPublisher({ proxy: ctx.proxy, link, vm, host, epoch, options: o, log });
  const inventory = new Inventory({ proxy: ctx.proxy, link, vm, host, bucket: o.inventoryBucket, ttl: o.ttl, log });
  const gateway = new Gateway({ proxy: ctx.proxy, subject: `${o.subjectPrefix}.${vm}.qmp`, log }, gatewayLimits(o));
  // The gateway first: it needs no JetStream, and answers as soon as the connection is up.
  link.onConnected(async (nc) => gateway.attach(nc));
  events.start();
  inventory.start();
  // The audit shipper runs in the process's audit shipping thread, on a connection of its own
  // (audit-thread.ts): its CPU is never taken between local clients' commands.
  const { servers, user, password, token, creds, tls } = o;
  const shipper = o.audit
    ? startAuditShipperThread({
        connection: { servers, user, password, token, creds, tls, name: `qmpmux ${vm}@${host} audit` },
        vm,
        subjectPrefix: o.subjectPrefix,
        stream: o.auditStream,
        logPath: o.audit.path,
        host,
        log: log.child('audit-shipper'),
        duplicateWindowMs: o.duplicateWindowMs,
        publishTimeoutMs: o.publishTimeoutMs,
      })
    : undefined;
  link.start();
  if (o.gatewayPrincipal === undefined) log.info(`NATS command gateway on ${o.subjectPrefix}.${vm}.qmp refuses every request: gatewayPrincipal is not set`);

  return {
    name: NAME,
    commands: [
      ownCommand({
        name: `${ctx.commandPrefix}query-nats`,
        returns: { state: 'str', pending: 'int', published: 'int', duplicates: 'int', dropped: 'int', gaps: 'int', 'gateway-served': 'int', 'gateway-busy': 'int' },
        run: async () =>
          answer({
            state: link.state,
            pending: events.pending,
            published: events.published,
            duplicates: events.duplicates,
            dropped: events.buffer.dropped,
            gaps: events.buffer.gaps,
            'gateway-served': gateway.served,
            'gateway-busy': gateway.busy,
          }),
      }),
    ],
    async onNegotiated() {
      inventory.changed();
    },
    async onClientDisconnect() {
      inventory.changed();
    },
    async reconfigure(next) {
      const fixed = (Object.keys(next) as (keyof NatsOptions)[]).filter((k) => !(RELOADABLE as readonly string[]).includes(k) && JSON.stringify(next[k]) !== JSON.stringify(o[k]));
      if (fixed.length) throw new Error(`cannot change ${fixed.join(', ')} while running; restart qmpmux`);
      o = next;
      gateway.reconfigure(gatewayLimits(o));
    },
    async close() {
      await shipper?.stop();
      gateway.close();
      await events.close(CLOSE_GRACE_MS);
      await inventory.close();
      await link.close();
    },
  };
}
