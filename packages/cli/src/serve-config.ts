/**
 * What `qmpmux serve` runs, from the config file and the flags over it: the config, every VM's spec
 * (one in the single-VM form), and `--check-config`'s effective configuration.
 */
import { DEFAULT_LIMITS, ConfigError, isFleet, loadConfig, parseConfig, threadsOf, type QmpmuxConfig } from '@qmpmux/core';
import { discoveredEntry, settingsOf, specOf, type FleetSettings, type VmSpec } from '@qmpmux/fleet';
import { AVAILABLE_PLUGINS } from './plugins.ts';
import { checkServeConfig, checkThreads } from './serve-check.ts';
import { UsageError } from './args.ts';
import { DEFAULT_QEMU_ARGS, DEFAULT_QEMU_BINARY } from './qemu.ts';

export type ServeFlags = Record<string, string | string[] | boolean>;

/** Where the single-VM form listens when neither the config nor a flag says. */
export const DEFAULT_LISTEN = 'unix:qmpmux.sock';

const rank = (name: string) => {
  const i = AVAILABLE_PLUGINS.findIndex((d) => d.name === name);
  return i < 0 ? AVAILABLE_PLUGINS.length : i;
};

/** The config file (or none) with the flags applied: --plugin, --discover, --control; checks flags (and `threads`) against the form. */
export function configWithFlags(file: string | undefined, flags: ServeFlags): QmpmuxConfig {
  const cfg = file ? loadConfig(file) : parseConfig({});
  for (const name of (flags.plugin as string[] | undefined) ?? []) if (!cfg.plugins.some((p) => p.name === name)) cfg.plugins.push({ name, options: {} });
  // Defaults plus --plugin flags: in the order their placement rules want (AVAILABLE_PLUGINS' order).
  if (cfg.defaultPlugins) cfg.plugins.sort((a, b) => rank(a.name) - rank(b.name));
  if (flags.control !== undefined) cfg.control = parseConfig({ control: flags.control }, '--control').control;
  if (flags.discover !== undefined) {
    if (cfg.upstream !== undefined || flags.upstream !== undefined || cfg.listen.length || cfg.qemu) {
      throw new UsageError('--discover makes the fleet form: the config may not have upstream, listen or qemu, and --upstream is not given (each discovered socket is an upstream; --listen gives the templates)');
    }
    const listen = (flags.listen as string[] | undefined) ?? cfg.discover?.listen;
    cfg.discover = parseConfig({ discover: { ...(cfg.discover ?? {}), dir: flags.discover, ...(listen ? { listen } : {}) } }, '--discover').discover;
  } else if (isFleet(cfg)) {
    for (const f of ['upstream', 'listen', 'qemu-binary', 'qemu-arg'] as const) if (flags[f] !== undefined) throw new UsageError(`--${f} is for the single-VM form; the config has vms/discover (each VM its own)`);
  }
  checkThreads(cfg); // once the form is known (--discover makes the fleet form)
  return cfg;
}

/** The single-VM form's one VM: flags over the config; `upstream` is the managed QEMU's when none is given. */
export function singleSpec(cfg: QmpmuxConfig, flags: ServeFlags, upstream: string): VmSpec {
  const s = settingsOf(cfg, AVAILABLE_PLUGINS);
  const spec = specOf({ name: cfg.name, upstream, listen: singleListen(cfg, flags), plugins: undefined, limits: {}, path: 'config' }, 'config', s);
  // The single-VM form names its fields as it always has (`plugins[0].options…`, `listen`).
  return { ...spec, proxy: { ...spec.proxy, configPaths: undefined } };
}

export function singleListen(cfg: QmpmuxConfig, flags: ServeFlags): string[] {
  return (flags.listen as string[] | undefined) ?? (cfg.listen.length ? cfg.listen : [DEFAULT_LISTEN]);
}

/** The fleet form's `vms`, resolved. */
export function fleetSpecs(cfg: QmpmuxConfig, s: FleetSettings = settingsOf(cfg, AVAILABLE_PLUGINS)): VmSpec[] {
  return (cfg.vms ?? []).map((vm) => specOf(vm, 'config', s));
}

/** A discovered VM's spec (with a stand-in name, to check the discover section's plugins and listeners). */
export function discoverSample(cfg: QmpmuxConfig, s: FleetSettings = settingsOf(cfg, AVAILABLE_PLUGINS)): VmSpec | undefined {
  return cfg.discover && specOf(discoveredEntry(cfg.discover, 'discovered', 'discovered.qmp'), 'discover', s);
}

/**
 * `--check-config`: what serve would run with, every default filled in: the file (ConfigError names a
 * bad field), the flags over it, the limits, and each plugin's options as its own validate() returns them.
 */
export function effectiveConfig(flags: ServeFlags): Record<string, unknown> {
  const cfg = configWithFlags(flags['check-config'] as string, flags);
  checkServeConfig(cfg);
  const validated = (spec: VmSpec) => spec.proxy.plugins.map((p, i) => ({ name: p.definition.name, options: p.definition.validate(p.options, `${spec.proxy.configPaths?.plugins ?? 'config.plugins'}[${i}].options`) }));
  const { fleetLimits, defaultPlugins: _d, ...rest } = cfg;
  const common = {
    ...rest,
    unixMode: cfg.unixMode === undefined ? null : '0' + cfg.unixMode.toString(8),
    log: (flags.log as string) ?? cfg.log ?? process.env.QMPMUX_LOG ?? 'info',
    limits: { ...DEFAULT_LIMITS, ...fleetLimits, ...cfg.limits },
    threads: threadsOf(cfg),
  };
  if (!isFleet(cfg)) {
    const upstream = (flags.upstream as string | undefined) ?? cfg.upstream;
    return {
      ...common,
      upstream: upstream ?? null,
      qemu: upstream ? (cfg.qemu ?? null) : { binary: (flags['qemu-binary'] as string) ?? cfg.qemu?.binary ?? DEFAULT_QEMU_BINARY, args: (flags['qemu-arg'] as string[]) ?? cfg.qemu?.args ?? DEFAULT_QEMU_ARGS },
      listen: singleListen(cfg, flags),
      plugins: validated(singleSpec(cfg, flags, upstream ?? 'unix:managed')),
    };
  }
  const s = settingsOf(cfg, AVAILABLE_PLUGINS);
  const sample = discoverSample(cfg, s);
  const { name: _n, upstream: _u, listen: _l, qemu: _q, ...fleet } = common;
  return {
    ...fleet,
    plugins: cfg.plugins.map((p, i) => ({ name: p.name, options: AVAILABLE_PLUGINS.find((d) => d.name === p.name)?.validate(p.options, `config.plugins[${i}].options`) ?? failUnknown(i, p.name) })),
    vms: fleetSpecs(cfg, s).map((spec) => ({ name: spec.name, upstream: spec.proxy.upstream, listen: spec.proxy.listen, limits: { ...DEFAULT_LIMITS, ...spec.proxy.limits }, plugins: validated(spec) })),
    ...(cfg.discover && sample ? { discover: { ...cfg.discover, limits: { ...DEFAULT_LIMITS, ...sample.proxy.limits }, plugins: validated(sample) } } : {}),
  };
}

function failUnknown(i: number, name: string): never {
  throw new ConfigError(`config.plugins[${i}].name`, `unknown plugin '${name}' (available: ${AVAILABLE_PLUGINS.map((d) => d.name).join(', ')})`);
}
