/**
 * The policy plugin's options, validated and compiled in one pass (at start and on every reload): names
 * are resolved to ids, token secrets are read and kept as digests, globs are compiled. Every error names
 * the path of the bad field.
 *
 *   {
 *     "principals": [
 *       { "name": "operator", "match": [{ "group": "qemu-ops" }, { "cn": "ops.example.com" }], "profile": "full" },
 *       { "name": "agent", "match": [{ "token": { "file": "/etc/qmpmux/agent.token" } }],
 *         "profile": "read-only", "allow": ["device_add", "device_del"] },
 *       { "name": "viewer", "match": [{ "user": "dashboard" }], "profile": "read-only", "deny": ["query-qmp-schema"] }
 *     ],
 *     "unmatched": "refuse"
 *   }
 *
 * Principals are tried in order; the first that matches wins. `unmatched` is "refuse" (the default: a
 * connection nobody named is refused before the greeting) or `{ "principal": "viewer" }`.
 */
import { readFileSync, statSync } from 'node:fs';
import { ConfigError, validate as v } from '@qmpmux/core';
import { lookupGroup, lookupUser } from './identity.ts';
import { cnIs, fingerprintIs, gidIs, inGroup, sanIs, sha256, subjectIs, tokenIs, uidIs, type Criterion } from './match.ts';
import { PROFILE_NAMES, glob, type CommandRules, type ProfileName } from './rules.ts';

export interface Principal extends CommandRules {
  name: string;
  /** Any entry matches when all of its criteria hold. */
  match: Criterion[][];
}

export interface PolicyOptions {
  principals: Principal[];
  /** undefined: refuse. */
  unmatched: string | undefined;
  /** Things worth a log line, found while loading (e.g. a token file others can read). */
  warnings: string[];
}

/** Secrets shorter than this are refused: a bearer token must not be guessable. */
export const MIN_TOKEN_LENGTH = 16;

const UNIX_KEYS = ['uid', 'gid', 'user', 'group'];
const CERT_KEYS = ['cn', 'san', 'subject', 'fingerprint256'];
const MATCH_KEYS = [...UNIX_KEYS, ...CERT_KEYS, 'token'];
const NAME_RE = /^[A-Za-z0-9_.@-]+$/;

export function parsePolicyOptions(raw: unknown, path: string): PolicyOptions {
  const o = v.object(raw, path, ['principals', 'unmatched']);
  const warnings: string[] = [];
  const digests = new Map<string, string>(); // token digest (hex) → path where it was configured
  const principals = v.array(o.principals, `${path}.principals`, (p, pp) => parsePrincipal(p, pp, warnings, digests));
  if (principals.length === 0) throw new ConfigError(`${path}.principals`, 'expected at least one principal');
  const seen = new Map<string, number>();
  principals.forEach((p, i) => {
    if (seen.has(p.name)) throw new ConfigError(`${path}.principals[${i}].name`, `duplicate principal '${p.name}' (also principals[${seen.get(p.name)}])`);
    seen.set(p.name, i);
  });
  let unmatched: string | undefined;
  if (o.unmatched !== undefined && o.unmatched !== 'refuse') {
    if (typeof o.unmatched === 'string') throw new ConfigError(`${path}.unmatched`, 'expected "refuse" or { "principal": NAME }');
    const u = v.object(o.unmatched, `${path}.unmatched`, ['principal']);
    unmatched = v.string(u.principal, `${path}.unmatched.principal`);
    if (!seen.has(unmatched)) throw new ConfigError(`${path}.unmatched.principal`, `no principal named '${unmatched}'`);
  }
  return { principals, unmatched, warnings };
}

function parsePrincipal(raw: unknown, path: string, warnings: string[], digests: Map<string, string>): Principal {
  const o = v.object(raw, path, ['name', 'match', 'profile', 'allow', 'deny']);
  const name = v.string(o.name, `${path}.name`);
  if (!NAME_RE.test(name)) throw new ConfigError(`${path}.name`, 'expected letters, digits and _ . @ - only');
  const match = v.array(o.match, `${path}.match`, (m, mp) => parseMatch(m, mp, warnings, digests));
  let profile: ProfileName | undefined;
  if (o.profile !== undefined) profile = v.oneOf(o.profile, `${path}.profile`, PROFILE_NAMES, 'read-only');
  const globs = (key: 'allow' | 'deny') => v.array(o[key], `${path}.${key}`, (g, gp) => glob(v.string(g, gp)));
  const allow = globs('allow');
  const deny = globs('deny');
  if (profile !== 'full' && allow.some((g) => g.re.test('human-monitor-command'))) {
    warnings.push(`${path}: allows human-monitor-command, through which HMP can run any command: this principal effectively has the 'full' profile`);
  }
  return { name, match, profile, allow, deny };
}

function parseMatch(raw: unknown, path: string, warnings: string[], digests: Map<string, string>): Criterion[] {
  const o = v.object(raw, path, MATCH_KEYS);
  const keys = Object.keys(o);
  if (keys.length === 0) throw new ConfigError(path, `expected at least one of: ${MATCH_KEYS.join(', ')} (for everyone else, use "unmatched")`);
  if (keys.some((k) => UNIX_KEYS.includes(k)) && keys.some((k) => !UNIX_KEYS.includes(k))) {
    throw new ConfigError(path, `${UNIX_KEYS.join('/')} (unix peers) cannot be combined with ${[...CERT_KEYS, 'token'].join('/')}: such an entry could never match`);
  }
  const out: Criterion[] = [];
  if (o.uid !== undefined) out.push(uidIs(v.int(o.uid, `${path}.uid`, 0, 0, 0xfffffffe)));
  if (o.gid !== undefined) out.push(gidIs(v.int(o.gid, `${path}.gid`, 0, 0, 0xfffffffe)));
  if (o.user !== undefined) {
    const name = v.string(o.user, `${path}.user`);
    const u = lookupUser(name);
    if (!u || u.name !== name) throw new ConfigError(`${path}.user`, `no user named '${name}'`);
    out.push(uidIs(u.uid, `user ${name}`));
  }
  if (o.group !== undefined) {
    const name = v.string(o.group, `${path}.group`);
    const g = lookupGroup(name);
    if (!g || g.name !== name) throw new ConfigError(`${path}.group`, `no group named '${name}'`);
    const uids = new Set<number>();
    for (const m of g.members) {
      const u = lookupUser(m);
      if (u) uids.add(u.uid);
      else warnings.push(`${path}.group: member '${m}' of group '${name}' is not a known user`);
    }
    out.push(inGroup(name, g.gid, uids));
  }
  if (o.cn !== undefined) out.push(cnIs(v.string(o.cn, `${path}.cn`)));
  if (o.san !== undefined) out.push(sanIs(v.string(o.san, `${path}.san`)));
  if (o.subject !== undefined) out.push(subjectIs(v.string(o.subject, `${path}.subject`)));
  if (o.fingerprint256 !== undefined) {
    const f = v.string(o.fingerprint256, `${path}.fingerprint256`);
    if (!/^[0-9A-Fa-f]{64}$/.test(f.replace(/:/g, ''))) throw new ConfigError(`${path}.fingerprint256`, 'expected 32 hex bytes (colons optional)');
    out.push(fingerprintIs(f));
  }
  if (o.token !== undefined) out.push(parseToken(o.token, `${path}.token`, warnings, digests));
  return out;
}

/** `{ "file": PATH }` or `{ "env": NAME }`: the secret itself is never in the configuration. */
function parseToken(raw: unknown, path: string, warnings: string[], digests: Map<string, string>): Criterion {
  const o = v.object(raw, path, ['file', 'env']);
  if ((o.file === undefined) === (o.env === undefined)) throw new ConfigError(path, 'expected exactly one of: file, env');
  let secret: string;
  let source: string;
  if (o.file !== undefined) {
    const file = v.string(o.file, `${path}.file`);
    source = `file ${file}`;
    try {
      secret = readFileSync(file, 'utf8').trim();
      if (statSync(file).mode & 0o077) warnings.push(`${path}.file: ${file} can be read by others than its owner (chmod 600)`);
    } catch (e) {
      throw new ConfigError(`${path}.file`, `cannot read ${file}: ${(e as Error).message}`);
    }
  } else {
    const name = v.string(o.env, `${path}.env`);
    source = `environment variable ${name}`;
    secret = (process.env[name] ?? '').trim();
    if (!secret) throw new ConfigError(`${path}.env`, `environment variable ${name} is not set or empty`);
  }
  if (secret.length < MIN_TOKEN_LENGTH) throw new ConfigError(path, `the token in ${source} is shorter than ${MIN_TOKEN_LENGTH} characters`);
  const digest = sha256(secret);
  const hex = digest.toString('hex');
  if (digests.has(hex)) throw new ConfigError(path, `the same token as ${digests.get(hex)}: a token must name one principal`);
  digests.set(hex, path);
  return tokenIs(digest, source);
}
