/**
 * plugins/event-replay — history for late joiners. QEMU sends an event only to the monitors connected
 * at that instant (QMP-NOTES §4); qmpmux sees every one, so it keeps them: a bounded ring (count, bytes,
 * age), the latest event per (name, throttle key), and optionally an on-disk journal that survives a
 * qmpmux restart.
 *
 * Commands (under the downstream-extension prefix):
 * - `__org.qmpmux_replay-events` { "since-seq"?: int, "since-time"?: number, "names"?: [str] }: the
 *   held events after that seq (or at/after that QEMU time, in seconds), in order, with their original
 *   bytes, sent before the reply; replies { "first-seq", "last-seq", "count", "skipped", "lost" }.
 * - `__org.qmpmux_query-last-events` { "names"?: [str] }: the latest event per (name, throttle key).
 *
 * And, by configuration, a replay right after qmp_capabilities, per principal and event names.
 * See README.md for the options and the exact guarantees.
 */
import { answer, ownCommand, refuse, type ClientInfo, type JsonPlain, type PluginDefinition } from '@qmpmux/core';
import { EventHistory, type ReplayQuery } from './history.ts';
import { validateOptions, type EventReplayOptions } from './options.ts';

export { DEFAULTS, type EventReplayOptions, type AutoReplayRule } from './options.ts';
export { THROTTLE_KEYS } from './state.ts';

export const eventReplayPlugin: PluginDefinition<EventReplayOptions> = {
  name: 'event-replay',
  validate: validateOptions,
  create(options, ctx) {
    const history = new EventHistory(options, ctx.log);
    if (options.journal) ctx.proxy.continueEventSeq(history.openJournal(options.journal));

    /** Auto replay: the events a rule gives this client, or undefined when no rule matches. */
    const autoReplay = (client: ClientInfo) => {
      const rule = options.autoReplay.find((r) => !r.principals || (client.principal !== undefined && r.principals.includes(client.principal)));
      if (!rule) return undefined;
      const names = rule.names ? new Set(rule.names) : undefined;
      if (rule.mode === 'history') return history.select({ names, maxAgeMs: rule.maxAgeMs }, ctx.proxy.lastEventSeq).events;
      const from = rule.maxAgeMs === undefined ? Number.NEGATIVE_INFINITY : Date.now() - rule.maxAgeMs;
      return history.state
        .list(names)
        .map((x) => x.event)
        .filter((e) => e.at >= from);
    };

    return {
      name: 'event-replay',

      async onEvent(ev) {
        history.record(ev);
      },

      async onNegotiated(client) {
        // Synchronous up to deliverEvents: no live event can reach the client before its replay.
        const events = autoReplay(client);
        if (!events) return;
        const sent = ctx.proxy.deliverEvents(client.id, events);
        ctx.log.debug('replayed after negotiation', { client: client.id, principal: client.principal, sent });
      },

      commands: [
        ownCommand({
          name: `${ctx.commandPrefix}replay-events`,
          data: { '*since-seq': 'int', '*since-time': 'number', '*names': ['str'] },
          returns: { 'first-seq': 'int', 'last-seq': 'int', count: 'int', skipped: 'int', lost: 'int' },
          async run(args, cmd) {
            const sinceSeq = args['since-seq'];
            const sinceTime = args['since-time'];
            if (sinceSeq !== undefined && sinceSeq < 0) return refuse('ARG_EXPECTS', 'since-seq', 'a non-negative integer');
            if (sinceSeq !== undefined && sinceTime !== undefined) return refuse('ARGS_EXCLUSIVE', 'since-seq', 'since-time');
            const q: ReplayQuery = { sinceSeq, sinceUs: sinceTime === undefined ? undefined : Math.round(sinceTime * 1_000_000), names: args.names && new Set(args.names) };
            // Selection and delivery in one synchronous step: the handover to live delivery is atomic.
            const sel = history.select(q, ctx.proxy.lastEventSeq);
            const count = ctx.proxy.deliverEvents(cmd.client.id, sel.events);
            return answer({ 'first-seq': sel.firstSeq, 'last-seq': sel.lastSeq, count, skipped: sel.events.length - count, lost: sel.lost });
          },
        }),
        ownCommand({
          name: `${ctx.commandPrefix}query-last-events`,
          data: { '*names': ['str'] },
          returns: [{ event: 'str', seq: 'int', timestamp: { seconds: 'int', microseconds: 'int' }, '*data': 'any', '*key': 'str' }],
          async run(args) {
            const list: JsonPlain[] = history.state.list(args.names && new Set(args.names)).map(({ event, key }) => {
              const v = event.value();
              const o: Record<string, JsonPlain> = { event: event.name, seq: event.seq, timestamp: { seconds: v.timestamp.seconds, microseconds: v.timestamp.microseconds } };
              if (v.data !== undefined) o.data = v.data;
              if (key !== undefined) o.key = key;
              return o;
            });
            return answer(list);
          },
        }),
      ],

      async close() {
        history.close(ctx.proxy.lastEventSeq);
      },
    };
  },
};

export default eventReplayPlugin;
