/**
 * add_client rules per principal, and the decision for one add_client.
 *
 *   {
 *     "principals": {
 *       "operator": { "protocols": ["vnc", "spice", "@dbus-display"], "chardevs": ["serial*"], "skipauth": "allow" },
 *       "viewer":   { "protocols": ["vnc"], "tls": "require" },
 *       "*":        { }
 *     }
 *   }
 *
 * - `protocols`: which of QEMU's display protocols may be named (`vnc`, `spice`, `@dbus-display`).
 * - `chardevs`: globs over chardev ids; any other `protocol` value is a chardev id to QEMU, and a
 *   chardev may be another monitor (QMP-NOTES §10.11): `"*"` hands sockets to every chardev, monitors
 *   included.
 * - `skipauth`, `tls`: "forbid" (must be absent or false), "allow", or "require" (must be true).
 *   Defaults: skipauth "forbid", tls "allow".
 * - `"*"`: rules for principals not listed. A principal with no rules may not use add_client at all.
 */
import { ConfigError, validate as v, type JsonPlain } from '@qmpmux/core';

export const DISPLAY_PROTOCOLS = ['vnc', 'spice', '@dbus-display'] as const;
export type DisplayProtocol = (typeof DISPLAY_PROTOCOLS)[number];
export type FlagRule = 'forbid' | 'allow' | 'require';
const FLAG_RULES: readonly FlagRule[] = ['forbid', 'allow', 'require'];

export interface AddClientRule {
  protocols: readonly DisplayProtocol[];
  chardevs: readonly { text: string; re: RegExp }[];
  skipauth: FlagRule;
  tls: FlagRule;
}

export interface AddClientOptions {
  /** By principal name; `*` for the rest. */
  principals: ReadonlyMap<string, AddClientRule>;
}

function chardevGlob(text: string): { text: string; re: RegExp } {
  const body = text.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return { text, re: new RegExp(`^${body}$`) };
}

export function parseAddClientOptions(raw: unknown, path: string): AddClientOptions {
  const o = v.object(raw, path, ['principals']);
  const principals = new Map<string, AddClientRule>();
  const ps = o.principals === undefined ? {} : v.object(o.principals, `${path}.principals`);
  for (const [name, r] of Object.entries(ps)) {
    const rp = `${path}.principals.${name}`;
    const ro = v.object(r, rp, ['protocols', 'chardevs', 'skipauth', 'tls']);
    const protocols = v.array(ro.protocols, `${rp}.protocols`, (p, pp) => v.oneOf(p, pp, DISPLAY_PROTOCOLS, 'vnc'));
    const chardevs = v.array(ro.chardevs, `${rp}.chardevs`, (c, cp) => {
      const s = v.string(c, cp);
      if ((DISPLAY_PROTOCOLS as readonly string[]).includes(s)) throw new ConfigError(cp, `'${s}' is a protocol, not a chardev id: list it in protocols`);
      return chardevGlob(s);
    });
    principals.set(name, {
      protocols,
      chardevs,
      skipauth: v.oneOf(ro.skipauth, `${rp}.skipauth`, FLAG_RULES, 'forbid'),
      tls: v.oneOf(ro.tls, `${rp}.tls`, FLAG_RULES, 'allow'),
    });
  }
  return { principals };
}

export type AddClientDecision = { allowed: true; reason: string } | { allowed: false; reason: string };

/**
 * What qmpmux knows of the fd a name refers to, for the asking client: its fstat type (`socket`,
 * `fifo`, `file`, …), `{ problem }` when it is known and unusable for another reason, or undefined.
 */
export type FdLookup = (fdname: string) => string | { problem: string } | undefined;

/** Decide one add_client; `args` as the client sent them. */
export function decideAddClient(opts: AddClientOptions, principal: string | undefined, args: Record<string, JsonPlain> | undefined, fdOf: FdLookup): AddClientDecision {
  const rule = principal === undefined ? undefined : (opts.principals.get(principal) ?? opts.principals.get('*'));
  if (!rule) return { allowed: false, reason: `no add_client rules for principal '${principal ?? '(none)'}'` };
  const a = args ?? {};
  if (typeof a.protocol !== 'string') return { allowed: false, reason: "'protocol' must be a string" };
  if (typeof a.fdname !== 'string') return { allowed: false, reason: "'fdname' must be a string" };
  for (const f of ['skipauth', 'tls'] as const) if (a[f] !== undefined && typeof a[f] !== 'boolean') return { allowed: false, reason: `'${f}' must be a boolean` };
  const protocol = a.protocol;
  let target: string;
  if ((DISPLAY_PROTOCOLS as readonly string[]).includes(protocol)) {
    if (!rule.protocols.includes(protocol as DisplayProtocol)) return { allowed: false, reason: `protocol '${protocol}' is not permitted` };
    target = `protocol '${protocol}'`;
  } else {
    const g = rule.chardevs.find((c) => c.re.test(protocol));
    if (!g) return { allowed: false, reason: `chardev '${protocol}' is not permitted` };
    target = `chardev '${protocol}' (matches '${g.text}')`;
  }
  for (const f of ['skipauth', 'tls'] as const) {
    const set = a[f] === true;
    if (rule[f] === 'forbid' && set) return { allowed: false, reason: `${f} is not permitted` };
    if (rule[f] === 'require' && !set) return { allowed: false, reason: `${f} must be set` };
  }
  const type = fdOf(a.fdname);
  if (type === undefined) return { allowed: false, reason: `fd '${a.fdname}' was not passed by this client with getfd through qmpmux, so its type is unknown` };
  if (typeof type === 'object') return { allowed: false, reason: `fd '${a.fdname}' ${type.problem}` };
  if (type !== 'socket') return { allowed: false, reason: `fd '${a.fdname}' is ${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}, not a socket` };
  return { allowed: true, reason: `${target}, skipauth ${a.skipauth === true}, tls ${a.tls === true}, fd '${a.fdname}' is a socket` };
}
