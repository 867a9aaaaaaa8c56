/** `qmpmux serve`: run the proxy in front of a QEMU (given, or started and supervised here). */
import { Proxy, createLogger, loadConfig, resolvePlugins, parseConfig, type LogLevel } from '@qmpmux/core';
import { AVAILABLE_PLUGINS } from './plugins.ts';
import { parseArgs } from './args.ts';
import { DEFAULT_QEMU_ARGS, DEFAULT_QEMU_BINARY, ManagedQemu } from './qemu.ts';

export { AVAILABLE_PLUGINS };

export const SERVE_USAGE = `usage: qmpmux serve [--upstream unix:PATH|tcp:HOST:PORT] [--listen ADDR]... [--config FILE]
                    [--plugin NAME]... [--qemu-binary PATH] [--qemu-arg ARG]... [--log LEVEL]
  --listen      unix:PATH, tcp:HOST:PORT, ws://HOST:PORT/PATH or wss://… (options: the config's
                "websocket"; a browser GET of PATH opens the web console), repeatable
                (default: unix:qmpmux.sock)
  --upstream    QEMU's QMP socket; without it qmpmux starts its own QEMU:
                ${DEFAULT_QEMU_BINARY} ${DEFAULT_QEMU_ARGS.join(' ')} -qmp unix:…
  --qemu-arg    replaces the default QEMU arguments (repeat for each)
  --plugin      enable a plugin with default options (${AVAILABLE_PLUGINS.map((p) => p.name).join(', ')})`;

export async function serve(argv: string[]): Promise<number> {
  const { opts } = parseArgs(argv, { values: ['upstream', 'config', 'qemu-binary', 'log'], repeat: ['listen', 'plugin', 'qemu-arg'] });
  const cfg = opts.config ? loadConfig(opts.config as string) : parseConfig({});
  for (const name of (opts.plugin as string[] | undefined) ?? []) if (!cfg.plugins.some((p) => p.name === name)) cfg.plugins.push({ name, options: {} });
  const log = createLogger('qmpmux', ((opts.log as string) ?? cfg.log ?? process.env.QMPMUX_LOG ?? 'info') as LogLevel);
  const listen = (opts.listen as string[] | undefined) ?? (cfg.listen.length ? cfg.listen : ['unix:qmpmux.sock']);
  let upstream = (opts.upstream as string | undefined) ?? cfg.upstream;
  let qemu: ManagedQemu | undefined;
  if (!upstream) {
    qemu = new ManagedQemu((opts['qemu-binary'] as string) ?? cfg.qemu?.binary ?? DEFAULT_QEMU_BINARY, (opts['qemu-arg'] as string[]) ?? cfg.qemu?.args ?? DEFAULT_QEMU_ARGS, log.child('qemu'));
    qemu.start();
    upstream = qemu.upstream;
  }
  const proxy = await Proxy.create({ upstream, listen, limits: cfg.limits, unixMode: cfg.unixMode, websocket: cfg.websocket, plugins: resolvePlugins(cfg, AVAILABLE_PLUGINS), log });
  try {
    await proxy.start();
  } catch (e) {
    await proxy.stop();
    await qemu?.stop();
    throw e;
  }
  log.info(`upstream ${upstream}${qemu ? ` (managed QEMU, pid ${qemu.pid})` : ''}`);
  await new Promise<void>((resolve) => {
    const onSignal = (sig: string) => {
      log.info(`${sig}: shutting down`);
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  await proxy.stop();
  await qemu?.stop();
  log.info('stopped');
  return 0;
}
