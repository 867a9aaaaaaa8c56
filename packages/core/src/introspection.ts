/**
 * qmpmux's own commands in QEMU's introspection. Plugins declare the commands they answer
 * (Plugin.commands: a name, or an OwnCommand with QAPI-like argument and return types); the core
 * adds them to QEMU's `query-commands` reply (`{"name": …}` entries) and `query-qmp-schema` reply
 * (a `command` SchemaInfo plus its argument and return types), before any plugin's onReply sees the
 * reply, so a policy plugin filters the whole list.
 *
 * Schema entries follow QEMU's conventions (qapi/introspect.json): type names are masked, so every
 * object type gets a fresh decimal name above the largest one QEMU used (they never collide, and no
 * QEMU type changes); builtins use QEMU's own names (`str`, `int`, `number`, `bool`, `null`, `any`,
 * with every integer width as `int`), arrays are `[ELEMENT]`; an optional member has `"default": null`.
 * A builtin or array entry QEMU's reply lacks is added once.
 */
import { serializeQemu, type JsonPlain } from '@qmpmux/protocol';
import type { OwnCommandInfo, OwnMembers, OwnType } from './own-command.ts';
import type { UpstreamReply } from './upstream-message.ts';

/** Every declaration of these plugins, in plugin order, each name once (the first wins). */
export function collectOwnCommands<C extends OwnCommandInfo>(plugins: readonly { readonly commands?: readonly C[] }[]): C[] {
  const seen = new Map<string, C>();
  for (const p of plugins) for (const c of p.commands ?? []) if (!seen.has(c.name)) seen.set(c.name, c);
  return [...seen.values()];
}

/** Commands whose replies the core extends. */
export const INTROSPECTION_COMMANDS: ReadonlySet<string> = new Set(['query-commands', 'query-qmp-schema']);

/**
 * QEMU's return for `command` with the own commands added, or undefined when nothing changes (not an
 * introspection command, nothing declared, or a reply that is not the expected list).
 */
export function extendIntrospection(command: string, ret: JsonPlain, own: readonly OwnCommandInfo[]): JsonPlain[] | undefined {
  if (!own.length || !Array.isArray(ret)) return undefined;
  if (command === 'query-commands') return extendQueryCommands(ret, own);
  if (command === 'query-qmp-schema') return extendQmpSchema(ret, own);
  return undefined;
}

export function extendQueryCommands(list: readonly JsonPlain[], own: readonly OwnCommandInfo[]): JsonPlain[] | undefined {
  const names = new Set(list.map((e) => (e && typeof e === 'object' && !Array.isArray(e) ? e.name : undefined)));
  const add = own.filter((c) => !names.has(c.name));
  return add.length ? [...list, ...add.map((c) => ({ name: c.name }))] : undefined;
}

const BUILTIN_JSON_TYPE: Record<string, string> = { str: 'string', int: 'int', number: 'number', bool: 'boolean', null: 'null', any: 'value' };
const INTEGER = new Set(['int', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'size']);

export function extendQmpSchema(schema: readonly JsonPlain[], own: readonly OwnCommandInfo[]): JsonPlain[] | undefined {
  const byName = new Map<string, JsonPlain>();
  let top = -1;
  for (const e of schema) {
    if (!e || typeof e !== 'object' || Array.isArray(e) || typeof e.name !== 'string') continue;
    byName.set(e.name, e);
    const m = /^\[?(\d+)\]?$/.exec(e.name);
    if (m) top = Math.max(top, Number(m[1]));
  }
  const out: JsonPlain[] = [];
  const types: JsonPlain[] = [];
  const fresh = () => String(++top);
  const ensure = (entry: { name: string } & Record<string, JsonPlain>) => {
    if (!byName.has(entry.name)) {
      byName.set(entry.name, entry);
      types.push(entry);
    }
    return entry.name;
  };
  const object = (members: OwnMembers, where: string): string => {
    const list: JsonPlain[] = Object.entries(members).map(([key, t]) => {
      const optional = key.startsWith('*');
      const name = optional ? key.slice(1) : key;
      if (!name) throw new TypeError(`${where}: empty member name`);
      const m: Record<string, JsonPlain> = { name, type: type(t, `${where}.${name}`) };
      if (optional) m.default = null;
      return m;
    });
    const name = fresh();
    types.push({ name, members: list, 'meta-type': 'object' });
    return name;
  };
  const type = (t: OwnType, where: string): string => {
    if (typeof t === 'string') {
      const b = INTEGER.has(t) ? 'int' : t;
      const json = BUILTIN_JSON_TYPE[b];
      if (!json) throw new TypeError(`${where}: unknown builtin type '${t}'`);
      return ensure({ name: b, 'json-type': json, 'meta-type': 'builtin' });
    }
    if (Array.isArray(t)) {
      if (t.length !== 1) throw new TypeError(`${where}: an array type is written [ELEMENT]`);
      const el = type(t[0] as OwnType, `${where}[]`);
      return ensure({ name: `[${el}]`, 'element-type': el, 'meta-type': 'array' });
    }
    return object(t as OwnMembers, where);
  };
  for (const c of own) {
    if (byName.has(c.name)) continue; // QEMU (or an earlier declaration) has it already
    const args = object(c.data ?? {}, `${c.name} data`);
    const ret = type(c.returns ?? {}, `${c.name} returns`);
    const entry: Record<string, JsonPlain> = { name: c.name, 'ret-type': ret, 'meta-type': 'command', 'arg-type': args };
    if (c.allowOob) entry['allow-oob'] = true;
    if (c.features?.length) entry.features = [...c.features];
    byName.set(c.name, entry);
    out.push(entry);
  }
  return out.length ? [...schema, ...out, ...types] : undefined;
}

/**
 * QEMU's reply to an introspection command with the own commands added: QEMU's entries keep their
 * bytes, only the extension entries are serialized here. Undefined when nothing changes. Throws
 * TypeError when a declaration cannot be introspected (a bad type in `data` or `returns`).
 */
export function extendReply(executed: string, reply: UpstreamReply, own: readonly OwnCommandInfo[]): { reply: UpstreamReply; value: JsonPlain[] } | undefined {
  if (!INTROSPECTION_COMMANDS.has(executed) || !own.length) return undefined;
  const r = reply.result();
  if (!('return' in r) || !Array.isArray(r.return)) return undefined;
  const extended = extendIntrospection(executed, r.return, own);
  if (!extended) return undefined;
  const grown = reply.withArrayAppended(
    extended
      .slice(r.return.length)
      .map((e) => serializeQemu(e))
      .join(', '),
  );
  return grown && { reply: grown, value: extended };
}
