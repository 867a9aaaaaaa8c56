/** `qmpmux serve`: run the proxy in front of a QEMU (given, or started and supervised here). */
import { DEFAULT_LIMITS, Proxy, createLogger, loadConfig, resolvePlugins, parseConfig, type LogLevel, type Logger, type QmpmuxConfig } from '@qmpmux/core';
import { MetricsRegistry, startHttp, type HttpEndpoint } from '@qmpmux/metrics';
import { AVAILABLE_PLUGINS } from './plugins.ts';
import { npmLauncher, watchLauncher } from './launcher.ts';
import { parseArgs, UsageError } from './args.ts';
import { DEFAULT_QEMU_ARGS, DEFAULT_QEMU_BINARY, ManagedQemu } from './qemu.ts';

export { AVAILABLE_PLUGINS };

export const SERVE_USAGE = `usage: qmpmux serve [--upstream unix:PATH|tcp:HOST:PORT] [--listen ADDR]... [--config FILE]
                    [--plugin NAME]... [--qemu-binary PATH] [--qemu-arg ARG]... [--log LEVEL] [--http HOST:PORT]
       qmpmux serve --check-config FILE [other serve options]
  --http        serve /metrics (Prometheus), /healthz and /readyz on HOST:PORT (config: "http")
  --check-config  validate FILE (and the plugins' options), print the effective configuration with
                  every default filled in as JSON, and exit: 0 valid, 2 invalid (the bad field named)
  --listen      unix:PATH, tcp:HOST:PORT, tls:HOST:PORT (certificates: the config's "tls"),
                ws://HOST:PORT/PATH or wss://… (options: the config's "websocket"; a browser
                GET of PATH opens the web console), repeatable (default: unix:qmpmux.sock)
  --upstream    QEMU's QMP socket; without it qmpmux starts its own QEMU:
                ${DEFAULT_QEMU_BINARY} ${DEFAULT_QEMU_ARGS.join(' ')} -qmp unix:…
  --qemu-arg    replaces the default QEMU arguments (repeat for each)
  --plugin      enable a plugin with default options (${AVAILABLE_PLUGINS.map((p) => p.name).join(', ')})
SIGHUP re-reads --config and gives the plugins their new options, all or nothing, keeping clients
connected; an invalid file is reported and the running configuration stays.
SIGINT/SIGTERM stop it (and its managed QEMU). Examples:
  qmpmux serve --listen unix:qmpmux.sock --listen tcp:127.0.0.1:4445
  qmpmux serve --upstream unix:/run/qemu/vm1.qmp --listen unix:/run/qmpmux/vm1.sock --config qmpmux.json
  qmpmux serve --check-config /etc/qmpmux/vm1.json && systemctl reload qmpmux@vm1`;

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'];

/** How long connections may linger after shutdown before the process exits anyway. */
const STOP_GRACE_MS = 2000;

const rank = (name: string) => {
  const i = AVAILABLE_PLUGINS.findIndex((d) => d.name === name);
  return i < 0 ? AVAILABLE_PLUGINS.length : i;
};

export async function serve(argv: string[]): Promise<number> {
  const { opts, rest } = parseArgs(argv, { values: ['upstream', 'config', 'qemu-binary', 'log', 'http', 'check-config'], repeat: ['listen', 'plugin', 'qemu-arg'] });
  if (rest.length) throw new UsageError(`unexpected argument '${rest[0]}'`);
  if (opts['check-config'] !== undefined && opts.config !== undefined) throw new UsageError('give --check-config FILE or --config FILE, not both');
  if (opts.log !== undefined && !LOG_LEVELS.includes(opts.log as string)) throw new UsageError(`--log must be one of ${LOG_LEVELS.join(', ')}, got '${String(opts.log)}'`);
  if (opts['check-config'] !== undefined) {
    process.stdout.write(JSON.stringify(effectiveConfig(opts), null, 2) + '\n');
    return 0;
  }
  const cfg = opts.config ? loadConfig(opts.config as string) : parseConfig({});
  const withFlags = (c: QmpmuxConfig) => {
    for (const name of (opts.plugin as string[] | undefined) ?? []) if (!c.plugins.some((p) => p.name === name)) c.plugins.push({ name, options: {} });
    // Defaults plus --plugin flags: in the order their placement rules want (AVAILABLE_PLUGINS' order).
    if (c.defaultPlugins) c.plugins.sort((a, b) => rank(a.name) - rank(b.name));
    return c;
  };
  withFlags(cfg);
  const log = createLogger('qmpmux', ((opts.log as string) ?? cfg.log ?? process.env.QMPMUX_LOG ?? 'info') as LogLevel);
  const listen = (opts.listen as string[] | undefined) ?? (cfg.listen.length ? cfg.listen : ['unix:qmpmux.sock']);
  let upstream = (opts.upstream as string | undefined) ?? cfg.upstream;
  let qemu: ManagedQemu | undefined;
  if (!upstream) {
    qemu = new ManagedQemu((opts['qemu-binary'] as string) ?? cfg.qemu?.binary ?? DEFAULT_QEMU_BINARY, (opts['qemu-arg'] as string[]) ?? cfg.qemu?.args ?? DEFAULT_QEMU_ARGS, log.child('qemu'));
    upstream = qemu.upstream;
  }
  // Everything that can be refused (plugins, their options) is checked before QEMU starts.
  const httpAddress = (opts.http as string | undefined) ?? cfg.http;
  const metrics = httpAddress ? new MetricsRegistry() : undefined;
  let proxy: Proxy;
  try {
    proxy = await Proxy.create({ observer: metrics?.observer(cfg.name), warmUp: Number(process.env.QMPMUX_WARMUP ?? 3000), name: cfg.name, upstream, listen, limits: cfg.limits, unixMode: cfg.unixMode, allowUnauthenticated: cfg.allowUnauthenticated, tls: cfg.tls, websocket: cfg.websocket, plugins: resolvePlugins(cfg, AVAILABLE_PLUGINS), log });
  } catch (e) {
    await qemu?.stop();
    throw e;
  }
  qemu?.start();
  // Everything else is set up before the listeners open: work done after that would land on the
  // first clients' commands (the cold-start tail, docs/operations.md).
  let http: HttpEndpoint | undefined;
  const launcher = npmLauncher();
  try {
    if (metrics && httpAddress) {
      metrics.attach(proxy);
      http = await startHttp({ address: httpAddress, proxies: () => [proxy], metrics });
      log.info(`metrics and health on http://${http.bound}/metrics`);
    }
    await proxy.start();
  } catch (e) {
    await http?.close();
    await proxy.stop();
    await qemu?.stop();
    throw e;
  }
  log.info(`upstream ${upstream}${qemu ? ` (managed QEMU under watchdog pid ${qemu.pid})` : ''}`);
  const onHup = () => void reload(proxy, opts.config as string | undefined, withFlags, cfg, log);
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
  await http?.close();
  await proxy.stop();
  await qemu?.stop();
  log.info('stopped');
  // Peers that never close their side (a WebSocket that does not answer the close frame, a TCP peer
  // that keeps its half open) must not keep the process alive: give them a moment, then exit.
  setTimeout(() => process.exit(0), STOP_GRACE_MS).unref();
  return 0;
}

/**
 * `--check-config`: what serve would run with, every default filled in: the file (ConfigError names a
 * bad field), the flags over it, the core limits, and each plugin's options as its own validate()
 * returns them.
 */
export function effectiveConfig(opts: Record<string, string | string[] | boolean>): Record<string, unknown> {
  const cfg = loadConfig(opts['check-config'] as string);
  for (const name of (opts.plugin as string[] | undefined) ?? []) if (!cfg.plugins.some((p) => p.name === name)) cfg.plugins.push({ name, options: {} });
  if (cfg.defaultPlugins) cfg.plugins.sort((a, b) => rank(a.name) - rank(b.name));
  const plugins = resolvePlugins(cfg, AVAILABLE_PLUGINS).map((p, i) => ({ name: p.definition.name, options: p.definition.validate(p.options, `config.plugins[${i}].options`) }));
  const upstream = (opts.upstream as string | undefined) ?? cfg.upstream;
  return {
    ...cfg,
    upstream: upstream ?? null,
    qemu: upstream ? (cfg.qemu ?? null) : { binary: (opts['qemu-binary'] as string) ?? cfg.qemu?.binary ?? DEFAULT_QEMU_BINARY, args: (opts['qemu-arg'] as string[]) ?? cfg.qemu?.args ?? DEFAULT_QEMU_ARGS },
    listen: (opts.listen as string[] | undefined) ?? (cfg.listen.length ? cfg.listen : ['unix:qmpmux.sock']),
    unixMode: cfg.unixMode === undefined ? null : '0' + cfg.unixMode.toString(8),
    log: (opts.log as string) ?? cfg.log ?? process.env.QMPMUX_LOG ?? 'info',
    limits: { ...DEFAULT_LIMITS, ...cfg.limits },
    plugins,
  };
}

/** SIGHUP: re-read the config file and reconfigure the plugins; on any error keep what runs. */
async function reload(proxy: Proxy, file: string | undefined, withFlags: (c: QmpmuxConfig) => QmpmuxConfig, started: QmpmuxConfig, log: Logger): Promise<void> {
  if (!file) return log.warn('SIGHUP: no --config file to reload; nothing changed');
  try {
    const cfg = withFlags(loadConfig(file));
    await proxy.reload(resolvePlugins(cfg, AVAILABLE_PLUGINS));
    const restart = (['upstream', 'listen', 'unixMode', 'limits', 'tls', 'websocket', 'qemu', 'log'] as const).filter((k) => JSON.stringify(cfg[k]) !== JSON.stringify(started[k]));
    if (restart.length) log.warn(`SIGHUP: changes to ${restart.join(', ')} take effect only after a restart`);
    log.info(`SIGHUP: configuration reloaded from ${file}`);
  } catch (e) {
    log.error(`SIGHUP: configuration not reloaded, the previous one stays: ${(e as Error).message}`);
  }
}
