/**
 * What `qmpmux serve` checks before it starts anything, so that a bad flag or config value is one line
 * and exit 2 (UsageError naming the flag, ConfigError naming the field), never a process that runs on
 * with a useless value or stops half-started: --upstream and --listen as the config file's addresses
 * are checked (core's parseConfig), --http / "http" as the metrics endpoint reads it, and, when
 * qmpmux is to start QEMU itself, that its binary is an executable file.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ConfigError, isFleet, parseConfig, threadsOf, type QmpmuxConfig } from '@qmpmux/core';
import { parseHostPort } from '@qmpmux/metrics';
import { UsageError } from './args.ts';
import { DEFAULT_QEMU_BINARY } from './qemu.ts';

type Opts = Record<string, string | string[] | boolean>;

/** The flags' addresses, checked as a config file's: `--listen: bad address 'x': …`. */
export function checkServeFlags(opts: Opts): void {
  try {
    parseConfig({ upstream: opts.upstream, listen: opts.listen });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new UsageError(`--${e.path.replace(/^config\.|\[\d+\]$/g, '')}: ${e.problem}`);
  }
  if (typeof opts.http === 'string') {
    try {
      parseHostPort(opts.http);
    } catch (e) {
      throw new UsageError(`--http: ${(e as Error).message}`);
    }
  }
}

/** The config file's "http" (the flag, when given, was checked by checkServeFlags). */
export function checkServeConfig(cfg: QmpmuxConfig): void {
  if (cfg.http === undefined) return;
  try {
    parseHostPort(cfg.http);
  } catch (e) {
    throw new ConfigError('config.http', (e as Error).message);
  }
}

/** `threads` above 1 (the VMs in worker threads) is for the fleet form: the config's vms or discover, or --discover. */
export function checkThreads(cfg: QmpmuxConfig): void {
  if (threadsOf(cfg) > 1 && !isFleet(cfg)) throw new ConfigError('config.threads', 'threads are for the fleet form (vms, discover): one VM runs in one thread');
}

/** A managed QEMU's binary (from the flag, else the config, else the default): an executable file. */
export function checkQemuBinary(flag: string | undefined, config: string | undefined): void {
  const binary = flag ?? config ?? DEFAULT_QEMU_BINARY;
  const executable = (f: string) => {
    try {
      accessSync(f, constants.X_OK);
      return statSync(f).isFile();
    } catch {
      return false;
    }
  };
  const found = binary.includes('/') ? executable(binary) : (process.env.PATH ?? '').split(delimiter).some((d) => d && executable(join(d, binary)));
  if (found) return;
  const problem = binary.includes('/') ? `${binary} is not an executable file` : `no executable ${binary} in $PATH (install QEMU, or give --upstream)`;
  if (flag === undefined && config !== undefined) throw new ConfigError('config.qemu.binary', problem);
  throw new UsageError(flag === undefined ? problem : `--qemu-binary: ${problem}`);
}
