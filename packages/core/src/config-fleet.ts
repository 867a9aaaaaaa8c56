/**
 * The fleet form of the config file: many VMs in one process (docs/fleet.md).
 *
 *   {
 *     "vms": [{ "name": "vm1", "upstream": "unix:/run/qemu/vm1.qmp", "listen": ["unix:/run/qmpmux/vm1.sock"],
 *               "plugins": [...], "limits": { "maxClients": 16 } }],
 *     "discover": { "dir": "/run/qemu", "glob": "*.qmp", "listen": ["unix:/run/qmpmux/{name}.sock"] },
 *     "control": "unix:/run/qmpmux/control.sock",
 *     "plugins": [...],                        // every VM's default; a VM's own "plugins" replace them
 *     "limits": { "maxVms": 256, "maxClients": 64 }
 *   }
 *
 * A `vms[]` entry is also what `__org.qmpmux_add-vm` takes (parseVmEntry). Every bad field is named by
 * its path (`config.vms[3].name`).
 */
import { parseAddress } from '@qmpmux/transports';
import { address, addresses } from './config-address.ts';
import { ConfigError } from './config-error.ts';
import { DEFAULT_LIMITS, type Limits } from './limits.ts';
import { VM_NAME } from './vm-name.ts';
import * as v from './validate.ts';

/** A plugin as the config names it: its name and raw options (validated by the plugin later). */
export interface PluginEntry {
  name: string;
  options: unknown;
}

/** One VM of the fleet form (a `vms[]` entry, or an `__org.qmpmux_add-vm` command). */
export interface VmConfig {
  name: string;
  /** QEMU's QMP socket (the fleet form attaches to QEMUs others start). */
  upstream: string;
  listen: string[];
  /** The VM's own plugins; absent: the top-level `plugins` (every VM's default). */
  plugins?: PluginEntry[];
  /** Over the top-level `limits`. */
  limits: Partial<Limits>;
  /** Where the entry is in the config (`config.vms[3]`), for errors found later. */
  path: string;
}

/** `discover`: sockets appearing in `dir` become VMs (name = file name without its extension). */
export interface DiscoverConfig {
  dir: string;
  /** File names to take (a glob of one path segment); default `*.qmp`. */
  glob: string;
  /** Listen address templates; `{name}` is replaced by the VM's name. */
  listen: string[];
  /** The discovered VMs' plugins; absent: the top-level `plugins`. */
  plugins?: PluginEntry[];
  limits: Partial<Limits>;
}

/** The fleet's own bounds (settable under the top-level `limits`, beside the core's). */
export interface FleetLimits {
  /** VMs in the process, whatever added them (config, discovery, the control socket). */
  maxVms: number;
  /** Clients of the control socket at once; further connections are refused. */
  maxControlClients: number;
  /** A discovered VM whose QEMU is not reachable for this long is removed (ms). */
  discoverGoneMs: number;
  /** The discovery directory is read again this often, beside fs.watch (which can miss events) (ms). */
  discoverRescanMs: number;
}

export const DEFAULT_FLEET_LIMITS: Readonly<FleetLimits> = Object.freeze({
  maxVms: 1024,
  maxControlClients: 16,
  discoverGoneMs: 30_000,
  discoverRescanMs: 2_000,
});

export const DEFAULT_DISCOVER_GLOB = '*.qmp';
/** Where discovered VMs listen when the config names no templates. */
export const DEFAULT_DISCOVER_LISTEN: readonly string[] = ['unix:qmpmux-{name}.sock'];

/** Check a VM name; the path names the field. */
export function checkVmName(name: string, path: string): string {
  if (!VM_NAME.test(name)) throw new ConfigError(path, `a VM name is 1 to 64 of A-Z a-z 0-9 _ . - (got ${JSON.stringify(name)})`);
  return name;
}

/** A list of addresses, each parsed (a template's `{name}` stands for a valid name). */
export function parsePluginEntries(raw: unknown, path: string): PluginEntry[] {
  return v.array(raw, path, (p, pp) => {
    const po = v.object(p, pp, ['name', 'options']);
    return { name: v.string(po.name, `${pp}.name`), options: po.options ?? {} };
  });
}

/** `limits`: the core's; at the top level (`fleet`) the fleet's too. */
/** Core limits that bound the whole process, not one VM: top-level `limits` only. */
const PROCESS_WIDE: readonly string[] = ['maxTotalClientOutputBytes'];

export function parseLimits(raw: unknown, path: string, fleet = false): { limits: Partial<Limits>; fleetLimits: Partial<FleetLimits> } {
  const core = Object.keys(DEFAULT_LIMITS);
  const own = Object.keys(DEFAULT_FLEET_LIMITS);
  const o = raw === undefined ? {} : v.object(raw, path, fleet ? [...core, ...own] : core);
  const limits: Partial<Limits> = {};
  const fleetLimits: Partial<FleetLimits> = {};
  for (const [k, val] of Object.entries(o)) {
    if (!fleet && PROCESS_WIDE.includes(k)) throw new ConfigError(`${path}.${k}`, 'a process-wide limit (every VM\'s clients count against one budget): set it under the top-level "limits"');
    const n = v.int(val, `${path}.${k}`, 0, 1);
    if (own.includes(k)) fleetLimits[k as keyof FleetLimits] = n;
    else limits[k as keyof Limits] = n;
  }
  return { limits, fleetLimits };
}

/** A `vms[]` entry (or add-vm's arguments): name, upstream and listen required. */
export function parseVmEntry(raw: unknown, path: string): VmConfig {
  const o = v.object(raw, path, ['name', 'upstream', 'listen', 'plugins', 'limits']);
  const name = checkVmName(v.string(o.name, `${path}.name`), `${path}.name`);
  if (o.upstream === undefined) throw new ConfigError(`${path}.upstream`, "missing: the fleet form attaches to QEMUs others start (qmpmux starts QEMU itself only in the single-VM form)");
  const upstream = address(o.upstream, `${path}.upstream`, { upstream: true });
  const listen = addresses(o.listen, `${path}.listen`);
  if (!listen.length) throw new ConfigError(`${path}.listen`, 'expected at least one address where clients connect');
  return {
    name,
    upstream,
    listen,
    plugins: o.plugins === undefined ? undefined : parsePluginEntries(o.plugins, `${path}.plugins`),
    limits: parseLimits(o.limits, `${path}.limits`).limits,
    path,
  };
}

export function parseDiscover(raw: unknown, path: string): DiscoverConfig {
  const o = v.object(raw, path, ['dir', 'glob', 'listen', 'plugins', 'limits']);
  const glob = o.glob === undefined ? DEFAULT_DISCOVER_GLOB : v.string(o.glob, `${path}.glob`);
  if (glob.includes('/')) throw new ConfigError(`${path}.glob`, 'matches file names in dir: no "/"');
  const listen = o.listen === undefined ? [...DEFAULT_DISCOVER_LISTEN] : addresses(o.listen, `${path}.listen`, { template: true });
  if (!listen.length) throw new ConfigError(`${path}.listen`, 'expected at least one address template');
  for (const [i, t] of listen.entries()) {
    const a = parseAddress(t.replaceAll('{name}', 'x'));
    const shared = a.kind === 'unix' || a.port !== 0;
    if (shared && !t.includes('{name}')) throw new ConfigError(`${path}.listen[${i}]`, `every discovered VM would listen on ${t}: put {name} in it (or use port 0)`);
  }
  return {
    dir: v.string(o.dir, `${path}.dir`),
    glob,
    listen,
    plugins: o.plugins === undefined ? undefined : parsePluginEntries(o.plugins, `${path}.plugins`),
    limits: parseLimits(o.limits, `${path}.limits`).limits,
  };
}

/** The `vms` list: entries, names unique, no address used twice. */
export function parseVms(raw: unknown, path: string): VmConfig[] {
  const vms = v.array(raw, path, parseVmEntry);
  checkDistinct(vms);
  return vms;
}

/** Names unique; no listener address (a unix path, a fixed port) used by two VMs. */
export function checkDistinct(vms: readonly VmConfig[]): void {
  const names = new Map<string, string>();
  const bound = new Map<string, string>();
  for (const vm of vms) {
    const other = names.get(vm.name);
    if (other !== undefined) throw new ConfigError(`${vm.path}.name`, `VM name '${vm.name}' is used by ${other} too`);
    names.set(vm.name, vm.path);
    for (const [i, addr] of vm.listen.entries()) {
      const key = listenKey(addr);
      if (key === undefined) continue;
      const at = bound.get(key);
      if (at !== undefined) throw new ConfigError(`${vm.path}.listen[${i}]`, `${addr} is also ${at}`);
      bound.set(key, `${vm.path}.listen[${i}]`);
    }
  }
}

/** What two listeners cannot share (a unix path, a host:port other than port 0); undefined: nothing. */
export function listenKey(addr: string): string | undefined {
  const a = parseAddress(addr);
  if (a.kind === 'unix') return `unix:${a.path}`;
  return a.port === 0 ? undefined : `${a.host}:${a.port}`;
}
