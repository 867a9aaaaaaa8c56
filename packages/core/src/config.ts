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
 * That is the single-VM form. The fleet form (`vms`, `discover`, `control`; config-fleet.ts) has no
 * top-level `name`, `upstream`, `listen` or `qemu`: each VM has its own.
 *
 * `tls` is the material of `tls:` (and `wss://`) listeners: `cert` and `key` are required, `ca` (the CA
 * that signs client certificates) makes the listener ask clients for a certificate, and
 * `requireClientCert` (default: true when `ca` is given) refuses a client without a verified one in
 * the handshake itself. A presented certificate that does not verify is always refused.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { WsListenOptions } from '@qmpmux/transports';
import { address, addresses } from './config-address.ts';
import { ConfigError } from './config-error.ts';
import { parseWebsocketConfig } from './config-websocket.ts';
import type { Limits } from './limits.ts';
import type { LogLevel } from './log.ts';
import type { PluginDefinition } from './types.ts';
import { DEFAULT_UNIX_MODE, DEFAULT_VM_NAME } from './vm-name.ts';
import * as v from './validate.ts';
import { DEFAULT_FLEET_LIMITS, checkVmName, parseDiscover, parseLimits, parsePluginEntries, parseVms, type DiscoverConfig, type FleetLimits, type PluginEntry, type VmConfig } from './config-fleet.ts';

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
  /** The plugins, in order; DEFAULT_PLUGINS when the config has no `plugins` key (`[]` means none). In the fleet form, every VM's default. */
  plugins: PluginEntry[];
  /** The config named no `plugins`: `plugins` holds the defaults. */
  defaultPlugins: boolean;
  /** Open non-loopback listeners where clients need not authenticate (ProxyOptions.allowUnauthenticated). */
  allowUnauthenticated: boolean;
  /** HOST:PORT of the metrics/health endpoint (packages/metrics); none when absent. */
  http?: string;
  /** Fleet form: the VMs (config-fleet.ts). */
  vms?: VmConfig[];
  /** Fleet form: VMs found as sockets in a directory. */
  discover?: DiscoverConfig;
  /** A QMP monitor for the fleet itself (`unix:PATH`): query-vms, add-vm, remove-vm. */
  control?: string;
  /** The fleet's bounds, defaults filled in. */
  fleetLimits: FleetLimits;
  /**
   * Fleet form: how many threads run the VMs. 1: all in the main thread; more: each VM runs whole in
   * one of that many worker threads, so a busy VM does not share its thread with the others
   * (docs/fleet.md, Threads). `auto` (the default): threadsOf().
   */
  threads: number | 'auto';
}

/** The most worker threads a fleet may have. */
export const MAX_THREADS = 64;
/** `"threads": "auto"` in the fleet form: one thread per core, at most this many (each costs ~55 MiB). */
export const AUTO_THREADS_MAX = 4;

/**
 * The threads the VMs run in: the config's number, or for `auto` (the default) one per core
 * (os.availableParallelism) up to AUTO_THREADS_MAX in the fleet form, 1 in the single-VM form.
 */
export function threadsOf(cfg: Pick<QmpmuxConfig, 'threads' | 'vms' | 'discover'>): number {
  if (cfg.threads !== 'auto') return cfg.threads;
  return isFleet(cfg) ? Math.min(availableParallelism(), AUTO_THREADS_MAX) : 1;
}

/** The config is in the fleet form: `vms` or `discover` (the single-VM form has neither). */
export function isFleet(cfg: Pick<QmpmuxConfig, 'vms' | 'discover'>): boolean {
  return cfg.vms !== undefined || cfg.discover !== undefined;
}

const TOP = ['name', 'upstream', 'listen', 'unixMode', 'allowUnauthenticated', 'log', 'limits', 'qemu', 'tls', 'websocket', 'plugins', 'http', 'vms', 'discover', 'control', 'threads'] as const;
/** Top-level fields of the single-VM form only. */
const SINGLE_ONLY = { name: 'each vms[] entry has its own name', upstream: 'each vms[] entry has its own upstream', listen: 'each vms[] entry has its own listen (discover.listen holds the templates of discovered VMs)', qemu: 'qmpmux starts QEMU itself only in the single-VM form; the fleet form attaches to QEMUs others start' } as const;

/**
 * The plugins of a config without a `plugins` key: a multiplexer's clients each have their own fds
 * (fdsets: getfd names and fd-set fds per client, closed when the client leaves) and operators can see
 * who is connected (clients).
 */
export const DEFAULT_PLUGINS: readonly string[] = ['fdsets', 'clients'];

export function parseConfig(raw: unknown, path = 'config'): QmpmuxConfig {
  const o = v.object(raw, path, TOP);
  const fleet = o.vms !== undefined || o.discover !== undefined;
  if (fleet) {
    for (const [k, why] of Object.entries(SINGLE_ONLY)) if (o[k] !== undefined) throw new ConfigError(`${path}.${k}`, `not in the fleet form (vms, discover): ${why}`);
  }
  const { limits, fleetLimits } = parseLimits(o.limits, `${path}.limits`, true);
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
  // Whether the form allows it is the CLI's to say, once --discover has been applied (serve-check.ts).
  let threads: number | 'auto' = 'auto';
  if (o.threads !== undefined && o.threads !== 'auto') {
    const t = o.threads;
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > MAX_THREADS) throw new ConfigError(`${path}.threads`, `expected "auto" or an integer from 1 to ${MAX_THREADS}`);
    threads = t;
  }
  const name = o.name === undefined ? DEFAULT_VM_NAME : checkVmName(v.string(o.name, `${path}.name`), `${path}.name`);
  let control: string | undefined;
  if (o.control !== undefined) {
    control = v.string(o.control, `${path}.control`);
    if (!/^unix:./.test(control)) throw new ConfigError(`${path}.control`, 'expected unix:PATH (the control socket is a unix socket, mode 0600)');
  }
  return {
    name,
    upstream: o.upstream === undefined ? undefined : address(o.upstream, `${path}.upstream`, { upstream: true }),
    listen: addresses(o.listen, `${path}.listen`),
    unixMode,
    log: o.log === undefined ? undefined : v.oneOf(o.log, `${path}.log`, ['debug', 'info', 'warn', 'error', 'silent'] as const, 'info'),
    limits,
    qemu,
    tls,
    websocket: o.websocket === undefined ? undefined : parseWebsocketConfig(o.websocket, `${path}.websocket`),
    http: v.optString(o.http, `${path}.http`),
    plugins: o.plugins === undefined ? DEFAULT_PLUGINS.map((name) => ({ name, options: {} })) : parsePluginEntries(o.plugins, `${path}.plugins`),
    defaultPlugins: o.plugins === undefined,
    allowUnauthenticated: v.bool(o.allowUnauthenticated, `${path}.allowUnauthenticated`, false),
    vms: o.vms === undefined ? undefined : parseVms(o.vms, `${path}.vms`),
    discover: o.discover === undefined ? undefined : parseDiscover(o.discover, `${path}.discover`),
    control,
    fleetLimits: { ...DEFAULT_FLEET_LIMITS, ...fleetLimits },
    threads,
  };
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
export function resolvePlugins(cfg: Pick<QmpmuxConfig, 'plugins'>, available: readonly PluginDefinition<any>[]): { definition: PluginDefinition<any>; options: unknown }[] {
  return resolvePluginEntries(cfg.plugins, available, 'config.plugins');
}

/** Resolve a list of plugin entries (at `path`, e.g. `config.vms[3].plugins`) against the available definitions. */
export function resolvePluginEntries(entries: readonly PluginEntry[], available: readonly PluginDefinition<any>[], path: string): { definition: PluginDefinition<any>; options: unknown }[] {
  return entries.map((p, i) => {
    const def = available.find((d) => d.name === p.name);
    if (!def) throw new ConfigError(`${path}[${i}].name`, `unknown plugin '${p.name}' (available: ${available.map((d) => d.name).join(', ')})`);
    return { definition: def, options: p.options };
  });
}
