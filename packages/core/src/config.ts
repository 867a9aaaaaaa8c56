/**
 * The JSON config file, validated at start-up. Every field is optional; command-line flags win.
 *
 *   {
 *     "upstream": "unix:/run/qemu/vm1.qmp",
 *     "listen": ["unix:/run/qmpmux/vm1.sock", "tcp:127.0.0.1:4445"],
 *     "unixMode": "0660",
 *     "log": "info",
 *     "limits": { "maxClients": 64 },
 *     "qemu": { "binary": "qemu-system-x86_64", "args": ["-M", "none"] },
 *     "tls": { "cert": "/etc/qmpmux/server.pem", "key": "/etc/qmpmux/server-key.pem", "ca": "/etc/qmpmux/clients-ca.pem" },
 *     "websocket": { "origins": ["https://ops.example"], "keepaliveMs": 30000, "maxPayload": 1048576 },
 *     "plugins": [ { "name": "clients", "options": {} } ]
 *   }
 *
 * `tls` is the material of `tls:` (and `wss://`) listeners: `cert` and `key` are required, `ca` (the CA
 * that signs client certificates) makes the listener ask clients for a certificate, and
 * `requireClientCert` (default: true when `ca` is given) refuses a client without a verified one in
 * the handshake itself. A presented certificate that does not verify is always refused.
 */
import { readFileSync } from 'node:fs';
import { parseAddress, type WsListenOptions } from '@qmpmux/transports';
import { ConfigError } from './config-error.ts';
import { parseWebsocketConfig } from './config-websocket.ts';
import { DEFAULT_LIMITS, type Limits } from './limits.ts';
import type { LogLevel } from './log.ts';
import type { PluginDefinition } from './types.ts';
import { DEFAULT_UNIX_MODE, DEFAULT_VM_NAME, VM_NAME } from './vm-name.ts';
import * as v from './validate.ts';

export interface QmpmuxConfig {
  /** The VM's name (single-VM form); default "default". */
  name: string;
  upstream?: string;
  listen: string[];
  unixMode?: number;
  log?: LogLevel;
  limits: Partial<Limits>;
  qemu?: { binary?: string; args?: string[] };
  tls?: { cert: string; key: string; ca?: string; requireClientCert: boolean };
  /** Options of `ws://`/`wss://` listeners (config-websocket.ts). */
  websocket?: WsListenOptions;
  /** The plugins, in order; DEFAULT_PLUGINS when the config has no `plugins` key (`[]` means none). */
  plugins: { name: string; options: unknown }[];
  /** The config named no `plugins`: `plugins` holds the defaults. */
  defaultPlugins: boolean;
  /** Open non-loopback listeners where clients need not authenticate (ProxyOptions.allowUnauthenticated). */
  allowUnauthenticated: boolean;
  /** HOST:PORT of the metrics/health endpoint (packages/metrics); none when absent. */
  http?: string;
}

const TOP = ['name', 'upstream', 'listen', 'unixMode', 'allowUnauthenticated', 'log', 'limits', 'qemu', 'tls', 'websocket', 'plugins', 'http'] as const;

/**
 * The plugins of a config without a `plugins` key: a multiplexer's clients each have their own fds
 * (fdsets: getfd names and fd-set fds per client, closed when the client leaves) and operators can see
 * who is connected (clients).
 */
export const DEFAULT_PLUGINS: readonly string[] = ['fdsets', 'clients'];

export function parseConfig(raw: unknown, path = 'config'): QmpmuxConfig {
  const o = v.object(raw, path, TOP);
  const limitsIn = o.limits === undefined ? {} : v.object(o.limits, `${path}.limits`, Object.keys(DEFAULT_LIMITS));
  const limits: Partial<Limits> = {};
  for (const [k, val] of Object.entries(limitsIn)) limits[k as keyof Limits] = v.int(val, `${path}.limits.${k}`, 0, 1);
  let unixMode = DEFAULT_UNIX_MODE;
  if (o.unixMode !== undefined) {
    if (typeof o.unixMode !== 'string' || !/^0?[0-7]{3}$/.test(o.unixMode)) throw new ConfigError(`${path}.unixMode`, 'expected an octal mode such as "0660"');
    unixMode = parseInt(o.unixMode, 8);
  }
  let qemu: QmpmuxConfig['qemu'];
  if (o.qemu !== undefined) {
    const q = v.object(o.qemu, `${path}.qemu`, ['binary', 'args']);
    qemu = { binary: v.optString(q.binary, `${path}.qemu.binary`), args: q.args === undefined ? undefined : v.array(q.args, `${path}.qemu.args`, v.string) };
  }
  let tls: QmpmuxConfig['tls'];
  if (o.tls !== undefined) {
    const t = v.object(o.tls, `${path}.tls`, ['cert', 'key', 'ca', 'requireClientCert']);
    const ca = v.optString(t.ca, `${path}.tls.ca`);
    tls = { cert: v.string(t.cert, `${path}.tls.cert`), key: v.string(t.key, `${path}.tls.key`), ca, requireClientCert: v.bool(t.requireClientCert, `${path}.tls.requireClientCert`, ca !== undefined) };
    if (tls.requireClientCert && ca === undefined) throw new ConfigError(`${path}.tls.requireClientCert`, 'needs tls.ca, the CA that signs client certificates');
  }
  const name = o.name === undefined ? DEFAULT_VM_NAME : v.string(o.name, `${path}.name`);
  if (!VM_NAME.test(name)) throw new ConfigError(`${path}.name`, `a VM name is 1 to 64 of A-Z a-z 0-9 _ . - (got ${JSON.stringify(name)})`);
  return {
    name,
    upstream: o.upstream === undefined ? undefined : address(o.upstream, `${path}.upstream`, true),
    listen: v.array(o.listen, `${path}.listen`, (l, lp) => address(l, lp, false)),
    unixMode,
    log: o.log === undefined ? undefined : v.oneOf(o.log, `${path}.log`, ['debug', 'info', 'warn', 'error', 'silent'] as const, 'info'),
    limits,
    qemu,
    tls,
    websocket: o.websocket === undefined ? undefined : parseWebsocketConfig(o.websocket, `${path}.websocket`),
    http: v.optString(o.http, `${path}.http`),
    plugins:
      o.plugins === undefined
        ? DEFAULT_PLUGINS.map((name) => ({ name, options: {} }))
        : v.array(o.plugins, `${path}.plugins`, (p, pp) => {
            const po = v.object(p, pp, ['name', 'options']);
            return { name: v.string(po.name, `${pp}.name`), options: po.options ?? {} };
          }),
    defaultPlugins: o.plugins === undefined,
    allowUnauthenticated: v.bool(o.allowUnauthenticated, `${path}.allowUnauthenticated`, false),
  };
}

/** An address as the transports read it (QEMU's: unix: or tcp: only); a ConfigError names the field. */
function address(raw: unknown, path: string, upstream: boolean): string {
  const text = v.string(raw, path);
  let kind: string;
  try {
    kind = parseAddress(text).kind;
  } catch (e) {
    throw new ConfigError(path, e instanceof TypeError ? `bad address '${text}': not a URL` : (e as Error).message);
  }
  if (upstream && kind !== 'unix' && kind !== 'tcp') throw new ConfigError(path, `bad address '${text}': QEMU's QMP socket is unix:PATH or tcp:HOST:PORT`);
  return text;
}

export function loadConfig(file: string): QmpmuxConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, `cannot read: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, `not valid JSON: ${(e as Error).message}`);
  }
  return parseConfig(raw);
}

/** Resolve configured plugin names against the available definitions. */
export function resolvePlugins(cfg: QmpmuxConfig, available: readonly PluginDefinition<any>[]): { definition: PluginDefinition<any>; options: unknown }[] {
  return cfg.plugins.map((p, i) => {
    const def = available.find((d) => d.name === p.name);
    if (!def) throw new ConfigError(`config.plugins[${i}].name`, `unknown plugin '${p.name}' (available: ${available.map((d) => d.name).join(', ')})`);
    return { definition: def, options: p.options };
  });
}
