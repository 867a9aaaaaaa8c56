/** `qmpmux serve`: one VM in front of a QEMU (given, or started and supervised here), or many (the fleet form, docs/fleet.md). */
import { createRequire } from 'node:module';
import { DEFAULT_LIMITS, OutputBudget, createLogger, isFleet, threadsOf, type LocalMonitor, type LogLevel, type QmpmuxConfig, type VmConfig } from '@qmpmux/core';
import { Discovery, LinkWatch, fleetControl, settingsOf, specOf, startControl } from '@qmpmux/fleet';
import { MetricsRegistry, mergedMetrics, notReadyOf, startHttp, type HttpEndpoint } from '@qmpmux/metrics';
import { AVAILABLE_PLUGINS } from './plugins.ts';
import { npmLauncher, watchLauncher } from './launcher.ts';
import { parseArgs, UsageError } from './args.ts';
import { DEFAULT_QEMU_ARGS, DEFAULT_QEMU_BINARY, ManagedQemu } from './qemu.ts';
import { configWithFlags, discoverSample, effectiveConfig, fleetSpecs, singleSpec } from './serve-config.ts';
import { reloader } from './serve-reload.ts';
import { checkQemuBinary, checkServeConfig, checkServeFlags } from './serve-check.ts';
import { ThreadedFleet, outputShare } from './serve-threads.ts';
import { servedFleet } from './serve-fleet.ts';

export { AVAILABLE_PLUGINS, effectiveConfig };

/** qmpmux's version (the control socket's greeting). */
const VERSION: string = createRequire(import.meta.url)('../package.json').version;

export const SERVE_USAGE = `usage: qmpmux serve [--upstream unix:PATH|tcp:HOST:PORT] [--listen ADDR]... [--config FILE]
                    [--plugin NAME]... [--qemu-binary PATH] [--qemu-arg ARG]... [--log LEVEL] [--http HOST:PORT]
                    [--discover DIR] [--control unix:PATH]
       qmpmux serve --check-config FILE [other serve options]
  --http        serve /metrics (Prometheus), /healthz and /readyz on HOST:PORT (config: "http")
  --check-config  validate FILE (and the plugins' options), print the effective configuration with
                  every default filled in as JSON, and exit: 0 valid, 2 invalid (the bad field named)
  --listen      unix:PATH, tcp:HOST:PORT, tls:HOST:PORT (certificates: the config's "tls"),
                ws://HOST:PORT/PATH or wss://… (options: the config's "websocket"; a browser
                GET of PATH opens the web console), repeatable (default: unix:qmpmux.sock);
                with --discover, templates in which {name} is each VM's name
  --upstream    QEMU's QMP socket; without it qmpmux starts its own QEMU:
                ${DEFAULT_QEMU_BINARY} ${DEFAULT_QEMU_ARGS.join(' ')} -qmp unix:…
  --qemu-arg    replaces the default QEMU arguments (repeat for each)
  --plugin      enable a plugin with default options (${AVAILABLE_PLUGINS.map((p) => p.name).join(', ')})
  --discover    many VMs: every QMP socket (*.qmp) appearing in DIR becomes a VM named after the file,
                listening on the --listen templates (default unix:qmpmux-{name}.sock); docs/fleet.md
  --control     a QMP monitor for the VMs themselves (__org.qmpmux_query-vms, add-vm, remove-vm)
A config with "vms" (or "discover") runs many VMs in one process, spread over one worker thread per
core (at most 4; the config's "threads" says otherwise): docs/fleet.md.
SIGHUP re-reads --config, all or nothing, keeping clients connected: the plugins get their new
options (fleet form: VMs are added, removed, restarted or reloaded as they changed, the others
untouched); an invalid file is reported and the running configuration stays.
SIGINT/SIGTERM stop it (and its managed QEMU). Examples:
  qmpmux serve --listen unix:qmpmux.sock --listen tcp:127.0.0.1:4445
  qmpmux serve --upstream unix:/run/qemu/vm1.qmp --listen unix:/run/qmpmux/vm1.sock --config qmpmux.json
  qmpmux serve --discover /run/qemu --listen 'unix:/run/qmpmux/{name}.sock' --control unix:/run/qmpmux/control.sock
  qmpmux serve --check-config /etc/qmpmux/vm1.json && systemctl reload qmpmux@vm1`;

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'];

/** How long connections may linger after shutdown before the process exits anyway. */
const STOP_GRACE_MS = 2000;

export async function serve(argv: string[]): Promise<number> {
  const { opts, rest } = parseArgs(argv, { values: ['upstream', 'config', 'qemu-binary', 'log', 'http', 'check-config', 'discover', 'control'], repeat: ['listen', 'plugin', 'qemu-arg'] });
  if (rest.length) throw new UsageError(`unexpected argument '${rest[0]}'`);
  checkServeFlags(opts);
  if (opts['check-config'] !== undefined && opts.config !== undefined) throw new UsageError('give --check-config FILE or --config FILE, not both');
  if (opts.log !== undefined && !LOG_LEVELS.includes(opts.log as string)) throw new UsageError(`--log must be one of ${LOG_LEVELS.join(', ')}, got '${String(opts.log)}'`);
  if (opts['check-config'] !== undefined) {
    process.stdout.write(JSON.stringify(effectiveConfig(opts), null, 2) + '\n');
    return 0;
  }
  const cfg = configWithFlags(opts.config as string | undefined, opts);
  const fleetForm = isFleet(cfg);
  checkServeConfig(cfg);
  const logLevel = ((opts.log as string) ?? cfg.log ?? process.env.QMPMUX_LOG ?? 'info') as LogLevel;
  const log = createLogger('qmpmux', logLevel);
  let upstream = fleetForm ? undefined : ((opts.upstream as string | undefined) ?? cfg.upstream);
  let qemu: ManagedQemu | undefined;
  if (!fleetForm && !upstream) {
    checkQemuBinary(opts['qemu-binary'] as string | undefined, cfg.qemu?.binary);
    qemu = new ManagedQemu((opts['qemu-binary'] as string) ?? cfg.qemu?.binary ?? DEFAULT_QEMU_BINARY, (opts['qemu-arg'] as string[]) ?? cfg.qemu?.args ?? DEFAULT_QEMU_ARGS, log.child('qemu'));
    upstream = qemu.upstream;
  }
  const httpAddress = (opts.http as string | undefined) ?? cfg.http;
  const metrics = httpAddress ? new MetricsRegistry() : undefined;
  let discovery: Discovery | undefined;
  // Discovered VMs whose QEMU stays unreachable are removed (in threads, each thread watches its own).
  const gone = (name: string, goneMs: number) => void discovery?.gone(name, goneMs);
  const links = new LinkWatch({ goneMs: cfg.fleetLimits.discoverGoneMs, gone: (vm, goneMs) => gone(vm.spec.name, goneMs) });
  // One bound on every client's queued output, whichever VM (and the control socket) it belongs to.
  // With VM threads, each thread and this one (the control socket's clients) have an equal share of it.
  const threads = threadsOf(cfg);
  const totalOutput = (c: QmpmuxConfig) => c.limits.maxTotalClientOutputBytes ?? DEFAULT_LIMITS.maxTotalClientOutputBytes;
  const ownOutput = (c: QmpmuxConfig) => (threads > 1 ? outputShare(totalOutput(c), threads) : totalOutput(c));
  const outputBudget = new OutputBudget(ownOutput(cfg));
  const warmUp = Number(process.env.QMPMUX_WARMUP ?? 3000);
  const fleet = servedFleet({
    log,
    outputBudget,
    maxVms: cfg.fleetLimits.maxVms,
    // The single-VM form logs as it always has; in the fleet form each VM's lines carry its name.
    vmLog: fleetForm ? (name) => log.child(name) : () => log,
    warmUp,
    metrics,
    links,
  });
  const s = settingsOf(cfg, AVAILABLE_PLUGINS);
  /** The top-level settings now (a reload replaces them): VMs added through the control socket take them. */
  let current = s;
  const specs = fleetForm ? fleetSpecs(cfg, s) : [singleSpec(cfg, opts, upstream!)];
  // Everything that can be refused (plugins, their options, listeners) is checked before QEMU starts.
  for (const spec of specs) fleet.validate(spec);
  const sample = discoverSample(cfg, s);
  if (sample) fleet.validate(sample);
  qemu?.start();
  // More than one thread (the fleet form's default: one per core, up to 4): the VMs run in worker
  // threads (serve-threads.ts); else in this one.
  const threaded = threads > 1 ? await ThreadedFleet.start({ threads, log, logLevel, warmUp, maxVms: cfg.fleetLimits.maxVms, maxTotalClientOutputBytes: totalOutput(cfg), metrics: metrics !== undefined, goneMs: cfg.fleetLimits.discoverGoneMs, gone }) : undefined;
  const vms = threaded ?? fleet;
  let control: LocalMonitor | undefined;
  let http: HttpEndpoint | undefined;
  let onHup: () => void;
  const stop = async () => {
    await http?.close();
    await discovery?.stop();
    links.stop();
    await control?.stop();
    await threaded?.stop();
    await fleet.stop();
    await qemu?.stop();
  };
  // Everything else is set up before the listeners open: work done after that would land on the
  // first clients' commands (the cold-start tail, docs/operations.md).
  const launcher = npmLauncher();
  let starting = true;
  try {
    if (metrics && threaded) metrics.threads({ vms: () => threaded.vmsPerThread(), utilization: () => threaded.utilization() });
    if (metrics && httpAddress) {
      // VMs in threads: their series come from the threads, merged with this thread's process metrics.
      const source = threaded ? { text: async () => mergedMetrics([await metrics.json(), ...(await threaded.metricsJson())]), contentType: metrics.contentType } : metrics;
      http = await startHttp({ address: httpAddress, notReady: threaded ? () => threaded.notReady() : () => notReadyOf(fleet.proxies()), starting: () => starting, metrics: source });
      log.info(`metrics and health on http://${http.bound}/metrics`);
    }
    const report = await vms.sync('config', specs, { atomic: true });
    if (!fleetForm && report.failed.length) throw new Error(report.failed[0]!.error.replace(/^qmpmux: VM '[^']*' did not start: /, ''));
    for (const f of report.failed) log.error(f.error);
    const followDiscovery = async (c: QmpmuxConfig) => {
      const specFor = (e: VmConfig) => specOf(e, 'discover', settingsOf(c, AVAILABLE_PLUGINS));
      if (!c.discover) {
        await discovery?.stop();
        discovery = undefined;
        await vms.sync('discover', [], { atomic: false });
      } else if (discovery) await discovery.reconfigure(c.discover, specFor);
      else {
        discovery = new Discovery({ config: c.discover, vms, spec: specFor, limits: c.fleetLimits, log: log.child('discover') });
        await discovery.start();
      }
    };
    await followDiscovery(cfg);
    if (cfg.control) {
      control = await startControl(cfg.control, { vms: threaded ?? fleetControl(fleet), spec: (e) => specOf(e, 'control', current), onRemoved: (name) => discovery?.forget(name), maxClients: cfg.fleetLimits.maxControlClients, outputBudget, version: VERSION, log: log.child('control') });
    }
    starting = false;
    if (fleetForm) log.info(`fleet: ${vms.size} VM(s)${threaded ? ` in ${threads} threads` : ''}${cfg.discover ? `, discovering in ${cfg.discover.dir}` : ''}${cfg.control ? `, control on ${cfg.control}` : ''}`);
    else log.info(`upstream ${upstream}${qemu ? ` (managed QEMU under watchdog pid ${qemu.pid})` : ''}`);
    onHup = reloader({ file: opts.config as string | undefined, flags: opts, fleet: vms, running: cfg, discovery: followDiscovery, upstream, log, applied: (c) => {
        current = settingsOf(c, AVAILABLE_PLUGINS);
        outputBudget.setLimit(ownOutput(c));
        void threaded?.setOutputLimit(totalOutput(c));
      } });
  } catch (e) {
    await stop();
    throw e;
  }
  process.on('SIGHUP', onHup);
  let unwatch = () => {};
  await new Promise<void>((resolve) => {
    const onSignal = (sig: string) => {
      log.info(`${sig}: shutting down`);
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    // Started by npx/npm exec: stop when that npm process is killed (launcher.ts).
    if (launcher !== undefined) unwatch = watchLauncher(launcher, () => onSignal(`npm (pid ${launcher}) exited`));
  });
  unwatch();
  process.off('SIGHUP', onHup);
  await stop();
  log.info('stopped');
  // Peers that never close their side (a WebSocket that does not answer the close frame, a TCP peer
  // that keeps its half open) must not keep the process alive: give them a moment, then exit.
  setTimeout(() => process.exit(0), STOP_GRACE_MS).unref();
  return 0;
}
