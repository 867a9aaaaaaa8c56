/** Shared by the tests: join as a client (optionally replaying in the same write), read events and replies. */
import { RawClient } from '@qmpmux/e2e';
import type { JsonPlain, PluginDefinition } from '@qmpmux/core';

export const REPLAY = '__org.qmpmux_replay-events';
export const LAST = '__org.qmpmux_query-last-events';

export interface ReplayReply {
  'first-seq': number;
  'last-seq': number;
  count: number;
  skipped: number;
  lost: boolean;
}

const isEvent = (v: JsonPlain) => typeof v === 'object' && v !== null && !Array.isArray(v) && 'event' in v;

/** The events a client received so far, as their exact bytes. */
export function events(c: RawClient): string[] {
  return c.messages.filter((m) => isEvent(m.value)).map((m) => m.raw);
}

/** Events received before the message carrying this id, and after it. */
export function splitAt(c: RawClient, idText: string): { before: string[]; after: string[] } {
  const i = c.messages.findIndex((m) => m.raw.includes(`"id": ${idText}`));
  if (i < 0) throw new Error(`no reply ${idText}`);
  const ev = (ms: typeof c.messages) => ms.filter((m) => isEvent(m.value)).map((m) => m.raw);
  return { before: ev(c.messages.slice(0, i)), after: ev(c.messages.slice(i + 1)) };
}

/**
 * Connect and negotiate. With `replay`, qmp_capabilities and the replay command go in one write, so the
 * replay is the first thing the session runs after negotiating: no live event can come in between.
 */
export async function join(address: string, replay?: Record<string, JsonPlain>): Promise<{ c: RawClient; reply: ReplayReply | undefined }> {
  const c = await RawClient.connect(address);
  await c.count(1);
  let msg = '{"execute":"qmp_capabilities","id":"cap"}';
  if (replay) msg += JSON.stringify({ execute: REPLAY, arguments: replay, id: 'replay' });
  c.send(msg);
  await c.reply('"cap"');
  if (!replay) return { c, reply: undefined };
  const r = (await c.reply('"replay"')).value as { return?: ReplayReply; error?: unknown };
  if (!r.return) throw new Error(`replay failed: ${JSON.stringify(r)}`);
  return { c, reply: r.return };
}

/** Run one command on a negotiated RawClient and return its reply's value. */
let nextId = 0;
export async function run(c: RawClient, execute: string, args?: Record<string, JsonPlain>): Promise<{ return?: any; error?: { class: string; desc: string } }> {
  const id = `r${++nextId}`;
  c.send(JSON.stringify(args ? { execute, arguments: args, id } : { execute, id }));
  return (await c.reply(JSON.stringify(id))).value as never;
}

/** A stand-in for a policy plugin: names the principal after the transport (tcp: "late", unix: "ops"). */
export const principalByTransport: PluginDefinition<object> = {
  name: 'test-principal',
  validate: () => ({}),
  create: () => ({
    name: 'test-principal',
    async onClientConnect(client) {
      client.principal = client.peer.transport === 'tcp' ? 'late' : 'ops';
    },
  }),
};
