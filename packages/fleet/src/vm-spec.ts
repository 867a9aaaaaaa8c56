/**
 * A VM as the fleet runs it: a `vms[]` entry (or a discovered socket, or an add-vm command) resolved
 * against the top-level settings — its plugins (its own, or the top-level defaults), its limits (the
 * top-level ones under its own), the listener settings every VM shares — and how two specs of one VM
 * differ (what a reload must do).
 */
import { ConfigError, listenKey, resolvePluginEntries, type DiscoverConfig, type Limits, type PluginDefinition, type PluginEntry, type PluginSpec, type ProxyOptions, type QmpmuxConfig, type VmConfig } from '@qmpmux/core';

/** Who added a VM: a reload of the config touches only its own; discovery only its own. */
export type VmOrigin = 'config' | 'discover' | 'control';

export interface VmSpec {
  readonly name: string;
  readonly origin: VmOrigin;
  /** What Proxy.create gets (without log, observer and warm-up, which the fleet adds). */
  readonly proxy: Omit<ProxyOptions, 'log' | 'observer' | 'warmUp'> & { name: string; plugins: PluginSpec[]; limits: Partial<Limits> };
}

/** What every VM shares: the config's top level. */
export interface FleetSettings {
  /** Every VM's default plugins, and where they are in the config. */
  plugins: readonly PluginEntry[];
  pluginsPath: string;
  limits: Partial<Limits>;
  unixMode?: number;
  tls?: ProxyOptions['tls'];
  websocket?: ProxyOptions['websocket'];
  allowUnauthenticated: boolean;
  /** The plugins this build knows, by name. */
  available: readonly PluginDefinition<any>[];
}

export function settingsOf(cfg: QmpmuxConfig, available: readonly PluginDefinition<any>[]): FleetSettings {
  // The process-wide output bound is the fleet's one OutputBudget, not a VM's: changing it restarts no VM.
  const { maxTotalClientOutputBytes: _processWide, ...limits } = cfg.limits;
  return {
    plugins: cfg.plugins,
    pluginsPath: 'config.plugins',
    limits,
    unixMode: cfg.unixMode,
    tls: cfg.tls,
    websocket: cfg.websocket,
    allowUnauthenticated: cfg.allowUnauthenticated,
    available,
  };
}

/** Resolve a VM entry (plugin names to definitions; throws ConfigError naming the field). */
export function specOf(vm: VmConfig, origin: VmOrigin, s: FleetSettings): VmSpec {
  const own = vm.plugins !== undefined;
  const pluginsPath = own ? `${vm.path}.plugins` : s.pluginsPath;
  return {
    name: vm.name,
    origin,
    proxy: {
      name: vm.name,
      upstream: vm.upstream,
      listen: [...vm.listen],
      plugins: resolvePluginEntries(own ? vm.plugins! : s.plugins, s.available, pluginsPath),
      limits: { ...s.limits, ...vm.limits },
      unixMode: s.unixMode,
      tls: s.tls,
      websocket: s.websocket,
      allowUnauthenticated: s.allowUnauthenticated,
      configPaths: { plugins: pluginsPath, listen: `${vm.path}.listen` },
    },
  };
}

/** A discovered socket `file` in the discovery dir, as a VM entry. */
export function discoveredEntry(d: DiscoverConfig, name: string, file: string): VmConfig {
  return {
    name,
    upstream: `unix:${d.dir.replace(/\/+$/, '')}/${file}`,
    listen: d.listen.map((t) => t.replaceAll('{name}', name)),
    plugins: d.plugins,
    limits: d.limits,
    path: 'config.discover',
  };
}

/** The listener addresses these VMs hold (listenKey → VM name; an address with no key, such as port 0, is no one's). */
export function heldListeners(specs: Iterable<VmSpec>): Map<string, string> {
  const m = new Map<string, string>();
  for (const spec of specs) for (const a of spec.proxy.listen) {
    const k = listenKey(a);
    if (k !== undefined) m.set(k, spec.name);
  }
  return m;
}

/** Throws a ConfigError naming the field when `spec` would listen where another VM does (`taken`: heldListeners). */
export function checkListenersFree(spec: VmSpec, taken: ReadonlyMap<string, string>): void {
  for (const [i, a] of spec.proxy.listen.entries()) {
    const owner = taken.get(listenKey(a) ?? '');
    if (owner !== undefined && owner !== spec.name) throw new ConfigError(`${spec.proxy.configPaths?.listen ?? 'listen'}[${i}]`, `${a} is used by VM '${owner}'`);
  }
}

/**
 * How `next` differs from the running `prev`: `same` (nothing), `plugins` (only plugin options:
 * Proxy.reload, clients stay), `restart` (anything else: upstream, listeners, limits, the plugin
 * list, the shared listener settings).
 */
export function difference(prev: VmSpec, next: VmSpec): 'same' | 'plugins' | 'restart' {
  const a = prev.proxy;
  const b = next.proxy;
  const runtime = (p: VmSpec['proxy']) =>
    JSON.stringify([p.upstream, p.listen, sorted(p.limits), p.unixMode, p.tls, p.websocket, p.allowUnauthenticated, p.plugins.map((x) => x.definition.name)]);
  if (runtime(a) !== runtime(b)) return 'restart';
  const opts = (p: VmSpec['proxy']) => JSON.stringify(p.plugins.map((x) => x.options ?? {}));
  return opts(a) === opts(b) ? 'same' : 'plugins';
}

function sorted(o: object): [string, unknown][] {
  return Object.entries(o).sort(([x], [y]) => (x < y ? -1 : 1));
}
