/**
 * SIGHUP: re-read the config file and apply it, all or nothing; on any error the running
 * configuration stays and one line says why (naming the bad field).
 *  - single-VM form: the plugins get their new options (Proxy.reload); other changes are named as
 *    needing a restart.
 *  - fleet form: the difference (fleet.sync): VMs added, removed, restarted (anything but plugin
 *    options changed), reloaded (plugin options), the others untouched; discovery follows its section.
 * Reloads run one at a time; signals arriving meanwhile make one more.
 */
import { ConfigError, isFleet, threadsOf, type Logger, type QmpmuxConfig } from '@qmpmux/core';
import { settingsOf, type Discovery, type Fleet, type SyncReport } from '@qmpmux/fleet';
import { AVAILABLE_PLUGINS } from './plugins.ts';
import { configWithFlags, discoverSample, fleetSpecs, singleSpec, type ServeFlags } from './serve-config.ts';

export interface ReloadTarget {
  file: string | undefined;
  flags: ServeFlags;
  /** The VMs: a Fleet, or a ThreadedFleet (serve-threads.ts). */
  fleet: Pick<Fleet, 'validate' | 'sync' | 'get'>;
  /** The configuration running now (replaced by each successful reload). */
  running: QmpmuxConfig;
  /** Discovery: (re)configured, started or stopped as the new config says. */
  discovery(cfg: QmpmuxConfig): Promise<void>;
  /** The single-VM form's upstream (it does not change on reload). */
  upstream?: string;
  /** A reload succeeded: `cfg` runs now (the control socket's add-vm takes its defaults from it). */
  applied?(cfg: QmpmuxConfig): void;
  log: Logger;
}

/** A SIGHUP handler: one reload at a time, signals meanwhile coalesced into one more. */
export function reloader(t: ReloadTarget): () => void {
  let running: Promise<void> | undefined;
  let again = false;
  const run = async () => {
    do {
      again = false;
      await reload(t);
    } while (again);
    running = undefined;
  };
  return () => {
    if (running) again = true;
    else running = run();
  };
}

async function reload(t: ReloadTarget): Promise<void> {
  const { log } = t;
  if (!t.file) return log.warn('SIGHUP: no --config file to reload; nothing changed');
  try {
    const cfg = configWithFlags(t.file, t.flags);
    if (isFleet(cfg) !== isFleet(t.running)) throw new ConfigError('config', `switching between the single-VM form and the fleet form (vms, discover) needs a restart`);
    const restart = (['control', 'http', 'log', 'threads', ...(isFleet(cfg) ? [] : (['name', 'upstream', 'listen', 'unixMode', 'limits', 'tls', 'websocket', 'qemu'] as const))] as const).filter(
      (k) => JSON.stringify(restartPart(cfg, k)) !== JSON.stringify(restartPart(t.running, k)),
    );
    let summary = '';
    if (isFleet(cfg)) {
      const s = settingsOf(cfg, AVAILABLE_PLUGINS);
      const specs = fleetSpecs(cfg, s);
      const sample = discoverSample(cfg, s);
      if (sample) t.fleet.validate(sample); // the discover section, before anything changes
      const report = await t.fleet.sync('config', specs, { atomic: true });
      await t.discovery(cfg);
      summary = describe(report);
      for (const f of report.failed) log.error(`SIGHUP: ${f.error}`);
    } else {
      // The single-VM form's VM (the control socket may have added others beside it).
      const vm = t.fleet.get(t.running.name);
      if (!vm) throw new ConfigError('config.name', `VM '${t.running.name}' is not running (removed through the control socket?); restart qmpmux`);
      await vm.proxy.reload(singleSpec(cfg, t.flags, t.upstream!).proxy.plugins);
    }
    t.running = isFleet(cfg) ? cfg : { ...cfg, name: t.running.name };
    t.applied?.(t.running);
    if (restart.length) log.warn(`SIGHUP: changes to ${restart.join(', ')} take effect only after a restart`);
    log.info(`SIGHUP: configuration reloaded from ${t.file}${summary}`);
  } catch (e) {
    log.error(`SIGHUP: configuration not reloaded, the previous one stays: ${(e as Error).message}`);
  }
}

/** What of a config field needs a restart to change (maxTotalClientOutputBytes is applied live: serve's `applied`). */
function restartPart(cfg: QmpmuxConfig, k: keyof QmpmuxConfig): unknown {
  if (k === 'threads') return threadsOf(cfg); // "auto" and the number it stands for are the same
  if (k !== 'limits') return cfg[k];
  const { maxTotalClientOutputBytes: _live, ...rest } = cfg.limits;
  return rest;
}

function describe(r: SyncReport): string {
  const parts = (['added', 'removed', 'restarted', 'reloaded'] as const).filter((k) => r[k].length).map((k) => `${k} ${r[k].join(', ')}`);
  if (r.failed.length) parts.push(`failed ${r.failed.map((f) => f.name).join(', ')}`);
  return parts.length ? ` (${parts.join('; ')})` : ' (no VM changed)';
}
