/**
 * The nats plugin's options, their defaults and their validation (each failure names the field's path).
 * Secrets never sit in the configuration: a password or token is read from a file or an environment
 * variable, a creds file is read, when the configuration is loaded (start and SIGHUP).
 *
 *   {
 *     "servers": ["nats://127.0.0.1:4222"],
 *     "user": "qmpmux", "password": { "file": "/etc/qmpmux/nats.pass" },   or
 *     "token": { "env": "NATS_TOKEN" },                                      or
 *     "credsFile": "/etc/qmpmux/qmpmux.creds",
 *     "tls": { "ca": "/etc/qmpmux/nats-ca.pem", "cert": "…", "key": "…" },
 *     "subjectPrefix": "qmpmux",
 *     "eventsStream": "QMPMUX_EVENTS", "auditStream": "QMPMUX_AUDIT", "inventoryBucket": "QMPMUX_VMS",
 *     "eventsRetention": { "maxAgeMs": 604800000, "maxBytes": 1073741824, "maxMsgs": -1 },
 *     "duplicateWindowMs": 120000,
 *     "maxPendingPublish": 10000, "maxInflightPublish": 256, "publishTimeoutMs": 5000,
 *     "gatewayPrincipal": "fleet", "maxGatewayConcurrency": 4, "maxGatewayQueue": 64,
 *     "ttl": 60,
 *     "audit": { "path": "/var/log/qmpmux/audit.log" }
 *   }
 */
import { existsSync, readFileSync } from 'node:fs';
import { ConfigError, validate as v } from '@qmpmux/core';

export interface NatsOptions {
  /** NATS server URLs (`nats://HOST:PORT`, `tls://HOST:PORT`, `HOST:PORT`). */
  servers: string[];
  /** Credentials: at most one of user/password, token, creds file. */
  user: string | undefined;
  password: string | undefined;
  token: string | undefined;
  /** The creds file's path and content (a user JWT and its nkey seed). */
  creds: { path: string; content: Uint8Array } | undefined;
  /** TLS to the server: CA, client certificate and key files (all optional; `{}` = TLS with the system CAs). */
  tls: TlsFiles | undefined;
  /** First subject token(s): `<p>.<vm>.event.<EVENT>`, `<p>.<vm>.gap`, `<p>.<vm>.qmp`, `<p>.<vm>.audit`. */
  subjectPrefix: string;
  eventsStream: string;
  auditStream: string;
  inventoryBucket: string;
  /** Limits of the events stream when this plugin creates it (0 / -1: none). */
  eventsRetention: { maxAgeMs: number; maxBytes: number; maxMsgs: number };
  /** The events stream's duplicate window: a republish within it is dropped by JetStream. */
  duplicateWindowMs: number;
  /** Events held until JetStream acknowledges them; beyond it events are dropped, counted, and a gap message says so. */
  maxPendingPublish: number;
  /** Publishes awaiting their acknowledgement at once. */
  maxInflightPublish: number;
  /** How long one publish waits for JetStream's acknowledgement before it is retried. */
  publishTimeoutMs: number;
  /** The principal NATS requests run as; undefined: requests are refused (GATEWAY_NO_PRINCIPAL). */
  gatewayPrincipal: string | undefined;
  /** NATS requests running at once (each on its own virtual client). */
  maxGatewayConcurrency: number;
  /** NATS requests waiting for a free slot; beyond it they are refused (GATEWAY_BUSY). */
  maxGatewayQueue: number;
  /** Inventory entry lifetime in seconds (the bucket's max age); refreshed every ttl/3. */
  ttl: number;
  /** Ship the hmp-audit log at this path to the audit stream; undefined: no audit shipping. */
  audit: { path: string } | undefined;
}

export const DEFAULTS = Object.freeze({
  servers: ['nats://127.0.0.1:4222'],
  subjectPrefix: 'qmpmux',
  eventsStream: 'QMPMUX_EVENTS',
  auditStream: 'QMPMUX_AUDIT',
  inventoryBucket: 'QMPMUX_VMS',
  maxAgeMs: 7 * 24 * 60 * 60 * 1000,
  maxBytes: 1024 * 1024 * 1024,
  maxMsgs: -1,
  duplicateWindowMs: 2 * 60 * 1000,
  maxPendingPublish: 10_000,
  maxInflightPublish: 256,
  publishTimeoutMs: 5_000,
  maxGatewayConcurrency: 4,
  maxGatewayQueue: 64,
  ttl: 60,
});

const FIELDS = [
  'servers', 'user', 'password', 'token', 'credsFile', 'tls', 'subjectPrefix', 'eventsStream', 'auditStream', 'inventoryBucket',
  'eventsRetention', 'duplicateWindowMs', 'maxPendingPublish', 'maxInflightPublish', 'publishTimeoutMs', 'gatewayPrincipal',
  'maxGatewayConcurrency', 'maxGatewayQueue', 'ttl', 'audit',
];

const TOKEN = /^[A-Za-z0-9_-]+$/;
const PRINCIPAL = /^[A-Za-z0-9_.@-]+$/;

export function validateOptions(options: unknown, path: string): NatsOptions {
  const o = v.object(options, path, FIELDS);
  const servers = o.servers === undefined ? [...DEFAULTS.servers] : v.array(o.servers, `${path}.servers`, server);
  if (!servers.length) throw new ConfigError(`${path}.servers`, 'expected at least one server URL');
  const given = (['user', 'token', 'credsFile'] as const).filter((k) => o[k] !== undefined);
  if (given.length > 1) throw new ConfigError(`${path}.${given[1]}`, `give one way to authenticate (user/password, token or credsFile), not ${given.join(' and ')}`);
  if (o.password !== undefined && o.user === undefined) throw new ConfigError(`${path}.password`, 'needs user');
  const prefix = o.subjectPrefix === undefined ? DEFAULTS.subjectPrefix : v.string(o.subjectPrefix, `${path}.subjectPrefix`);
  if (!prefix.split('.').every((t) => TOKEN.test(t))) throw new ConfigError(`${path}.subjectPrefix`, 'expected subject tokens of A-Z a-z 0-9 _ - separated by dots (no wildcards)');
  const name = (key: 'eventsStream' | 'auditStream' | 'inventoryBucket') => {
    const n = o[key] === undefined ? DEFAULTS[key] : v.string(o[key], `${path}.${key}`);
    if (!TOKEN.test(n)) throw new ConfigError(`${path}.${key}`, 'expected A-Z a-z 0-9 _ - only');
    return n;
  };
  const r = v.object(o.eventsRetention ?? {}, `${path}.eventsRetention`, ['maxAgeMs', 'maxBytes', 'maxMsgs']);
  let gatewayPrincipal: string | undefined;
  if (o.gatewayPrincipal !== undefined) {
    gatewayPrincipal = v.string(o.gatewayPrincipal, `${path}.gatewayPrincipal`);
    if (!PRINCIPAL.test(gatewayPrincipal)) throw new ConfigError(`${path}.gatewayPrincipal`, 'expected letters, digits and _ . @ - only (a principal name)');
  }
  let audit: NatsOptions['audit'];
  if (o.audit !== undefined) audit = { path: v.string(v.object(o.audit, `${path}.audit`, ['path']).path, `${path}.audit.path`) };
  const ttl = o.ttl === undefined ? DEFAULTS.ttl : o.ttl;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 1 || ttl > 86_400) throw new ConfigError(`${path}.ttl`, 'expected a number of seconds from 1 to 86400');
  return {
    servers,
    user: v.optString(o.user, `${path}.user`),
    password: o.password === undefined ? undefined : secret(o.password, `${path}.password`),
    token: o.token === undefined ? undefined : secret(o.token, `${path}.token`),
    creds: o.credsFile === undefined ? undefined : credsFile(o.credsFile, `${path}.credsFile`),
    tls: o.tls === undefined ? undefined : tlsFiles(o.tls, `${path}.tls`),
    subjectPrefix: prefix,
    eventsStream: name('eventsStream'),
    auditStream: name('auditStream'),
    inventoryBucket: name('inventoryBucket'),
    eventsRetention: {
      maxAgeMs: v.int(r.maxAgeMs, `${path}.eventsRetention.maxAgeMs`, DEFAULTS.maxAgeMs, 0),
      maxBytes: v.int(r.maxBytes, `${path}.eventsRetention.maxBytes`, DEFAULTS.maxBytes, -1),
      maxMsgs: v.int(r.maxMsgs, `${path}.eventsRetention.maxMsgs`, DEFAULTS.maxMsgs, -1),
    },
    duplicateWindowMs: v.int(o.duplicateWindowMs, `${path}.duplicateWindowMs`, DEFAULTS.duplicateWindowMs, 1000, 24 * 60 * 60 * 1000),
    maxPendingPublish: v.int(o.maxPendingPublish, `${path}.maxPendingPublish`, DEFAULTS.maxPendingPublish, 2, 10_000_000),
    maxInflightPublish: v.int(o.maxInflightPublish, `${path}.maxInflightPublish`, DEFAULTS.maxInflightPublish, 1, 65_536),
    publishTimeoutMs: v.int(o.publishTimeoutMs, `${path}.publishTimeoutMs`, DEFAULTS.publishTimeoutMs, 100, 600_000),
    gatewayPrincipal,
    maxGatewayConcurrency: v.int(o.maxGatewayConcurrency, `${path}.maxGatewayConcurrency`, DEFAULTS.maxGatewayConcurrency, 1, 64),
    maxGatewayQueue: v.int(o.maxGatewayQueue, `${path}.maxGatewayQueue`, DEFAULTS.maxGatewayQueue, 0, 100_000),
    ttl,
    audit,
  };
}

function server(x: unknown, p: string): string {
  const s = v.string(x, p);
  const withScheme = /^[a-z]+:\/\//.test(s) ? s : `nats://${s}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new ConfigError(p, `not a server URL: ${JSON.stringify(s)} (expected nats://HOST:PORT, tls://HOST:PORT or HOST:PORT)`);
  }
  if (!['nats:', 'tls:'].includes(u.protocol) || !u.hostname) throw new ConfigError(p, `expected nats://HOST:PORT, tls://HOST:PORT or HOST:PORT, got ${JSON.stringify(s)}`);
  if (u.username || u.password) throw new ConfigError(p, 'credentials do not go in the URL: use user/password, token or credsFile');
  return s;
}

/** `{ "file": PATH }` or `{ "env": NAME }`: read now. */
function secret(raw: unknown, p: string): string {
  const o = v.object(raw, p, ['file', 'env']);
  if ((o.file === undefined) === (o.env === undefined)) throw new ConfigError(p, 'expected exactly one of: file, env (the secret itself never goes in the configuration)');
  if (o.file !== undefined) {
    const file = v.string(o.file, `${p}.file`);
    try {
      const s = readFileSync(file, 'utf8').trim();
      if (!s) throw new Error('the file is empty');
      return s;
    } catch (e) {
      throw new ConfigError(`${p}.file`, `cannot read ${file}: ${(e as Error).message}`);
    }
  }
  const name = v.string(o.env, `${p}.env`);
  const s = (process.env[name] ?? '').trim();
  if (!s) throw new ConfigError(`${p}.env`, `environment variable ${name} is not set or empty`);
  return s;
}

function credsFile(raw: unknown, p: string): { path: string; content: Uint8Array } {
  const file = v.string(raw, p);
  try {
    return { path: file, content: readCredsFile(file) };
  } catch (e) {
    throw new ConfigError(p, (e as Error).message);
  }
}

/**
 * A NATS creds file's content, checked to hold a user JWT and a user nkey seed (what the server will
 * check — the JWT's signatures, the account — it checks when the client connects). Throws an Error
 * that names the file and what is wrong.
 */
export function readCredsFile(file: string): Uint8Array {
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  const text = content.toString('utf8');
  if (!/-----BEGIN NATS USER JWT-----\s+[\w-]+\.[\w-]+\.[\w-]+\s/.test(text)) throw new Error(`${file} is not a NATS creds file (no user JWT)`);
  if (!/-----BEGIN USER NKEY SEED-----\s+SU[A-Z2-7]+\s/.test(text)) throw new Error(`${file} is not a NATS creds file (no user nkey seed)`);
  return new Uint8Array(content);
}

function tlsFiles(raw: unknown, p: string): TlsFiles {
  const o = v.object(raw, p, ['ca', 'cert', 'key']);
  const out: TlsFiles = {};
  for (const k of ['ca', 'cert', 'key'] as const) {
    const f = v.optString(o[k], `${p}.${k}`);
    if (f !== undefined) out[k] = f;
  }
  const bad = checkTlsFiles(out);
  if (bad) throw new ConfigError(`${p}.${bad.field}`, bad.problem);
  return out;
}

export interface TlsFiles {
  /** The CA certificate(s) that sign the server's certificate (PEM); default: the system's CAs. */
  ca?: string;
  /** A client certificate and its key (PEM), for a server that requires one. */
  cert?: string;
  key?: string;
}

/** What is wrong with TLS files, if anything: each must exist, cert and key go together. */
export function checkTlsFiles(t: TlsFiles): { field: keyof TlsFiles; problem: string } | undefined {
  for (const k of ['ca', 'cert', 'key'] as const) {
    const f = t[k];
    if (f !== undefined && !existsSync(f)) return { field: k, problem: `no such file: ${f}` };
  }
  if ((t.cert === undefined) !== (t.key === undefined)) return { field: t.cert === undefined ? 'cert' : 'key', problem: 'cert and key go together: a client certificate and its key' };
  return undefined;
}
