/**
 * Discovery: QMP sockets in a directory become VMs. A socket matching the glob appears → a VM named
 * after the file (without its extension; an invalid name is skipped with a warning). The socket
 * disappears → the VM is removed. Its QEMU is unreachable for `discoverGoneMs` (it exited and left
 * its socket file behind, or never listened: a LinkWatch where the VM runs tells `gone`) → the VM is
 * removed too, and that file is ignored until it is created again (a restarted QEMU makes a new one).
 * The VMs are a Fleet's, or a ThreadedFleet's (VMs in worker threads): Discovery only syncs and removes.
 *
 * fs.watch tells of changes, but can miss some (and stops when the directory goes away), so the
 * directory is also read every `discoverRescanMs`. What is kept is bounded by what the directory
 * holds: entries for files no longer there are dropped at every scan.
 */
import { watch, type FSWatcher } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { parse } from 'node:path';
import { minimatch } from 'minimatch';
import { VM_NAME, type DiscoverConfig, type FleetLimits, type Logger, type VmConfig } from '@qmpmux/core';
import type { Fleet } from './fleet.ts';
import { discoveredEntry, type VmSpec } from './vm-spec.ts';

/** fs.watch events within this many ms lead to one scan. */
const SETTLE_MS = 50;

export interface DiscoveryOptions {
  config: DiscoverConfig;
  /** Where the VMs run: a Fleet, or the VM threads (serve-threads.ts). */
  vms: Pick<Fleet, 'sync' | 'remove'>;
  /** A discovered VM entry resolved against the top-level settings (vm-spec.ts specOf). */
  spec(entry: VmConfig): VmSpec;
  limits: Pick<FleetLimits, 'discoverRescanMs'>;
  log: Logger;
}

interface Found {
  file: string;
  /** inode and change time: a new socket of the same name differs. */
  identity: string;
}

export class Discovery {
  private watcher: FSWatcher | undefined;
  private rescan: NodeJS.Timeout | undefined;
  private settle: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** Files seen in the last scan, by VM name. */
  private found = new Map<string, Found>();
  /** Files whose QEMU was gone (or whose VM was removed by hand): skipped until they change. */
  private readonly ignored = new Map<string, string>();
  /** Names already warned about (invalid, taken), so a rescan does not repeat the warning. */
  private readonly warned = new Set<string>();

  constructor(private opts: DiscoveryOptions) {}

  get dir(): string {
    return this.opts.config.dir;
  }

  /** Scan now, then follow the directory. */
  async start(): Promise<void> {
    this.rescan = setInterval(() => this.trigger(), this.opts.limits.discoverRescanMs);
    this.rescan.unref();
    await this.scan();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.rescan);
    clearTimeout(this.settle);
    this.watcher?.close();
    this.watcher = undefined;
    await this.scanning;
  }

  /** New settings (a config reload): scan now, applying them to the discovered VMs (sync: only changes). */
  async reconfigure(config: DiscoverConfig, spec: DiscoveryOptions['spec']): Promise<void> {
    if (config.dir !== this.dir) {
      this.watcher?.close();
      this.watcher = undefined;
      this.found.clear();
      this.ignored.clear();
    }
    this.opts = { ...this.opts, config, spec };
    await this.scan();
  }

  /** A discovered VM was removed by hand: leave its socket alone until it is created again. */
  forget(name: string): void {
    const f = this.found.get(name);
    if (f) this.ignored.set(name, f.identity);
  }

  /**
   * A discovered VM's QEMU was unreachable for `goneMs` (its LinkWatch said so): remove the VM and
   * leave its socket file alone until it is created again.
   */
  async gone(name: string, goneMs: number): Promise<void> {
    if (this.stopped) return;
    const f = this.found.get(name);
    this.opts.log.warn(`VM '${name}': QEMU unreachable for ${goneMs} ms (discoverGoneMs): removed`, { socket: f ? `${this.dir}/${f.file}` : undefined });
    this.forget(name);
    await this.opts.vms.remove(name, `QEMU unreachable for ${goneMs} ms`, 'discover');
  }

  /** Scan soon (coalescing bursts of events; one scan at a time, one more queued at most). */
  private trigger(): void {
    if (this.stopped || this.settle) return;
    this.settle = setTimeout(() => {
      this.settle = undefined;
      void this.scan();
    }, SETTLE_MS);
  }

  private scan(): Promise<void> {
    if (this.scanning) {
      this.again = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.again = false;
        try {
          await this.scanOnce();
        } catch (e) {
          this.opts.log.error(`discovery: ${(e as Error).message}`);
        }
      } while (this.again && !this.stopped);
      this.scanning = undefined;
    })();
    return this.scanning;
  }

  private follow(): void {
    if (this.watcher || this.stopped) return;
    try {
      this.watcher = watch(this.dir, () => this.trigger());
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined; // the next rescan watches again
      });
    } catch {
      // not there (yet): the rescan goes on
    }
  }

  private async scanOnce(): Promise<void> {
    if (this.stopped) return;
    this.follow();
    const found = new Map<string, Found>();
    const seen = new Set<string>();
    let files: string[] = [];
    try {
      files = await readdir(this.dir);
    } catch (e) {
      this.warnOnce(`dir:${this.dir}`, `discovery: cannot read ${this.dir}: ${(e as Error).message}`);
    }
    for (const file of files.sort()) {
      if (!minimatch(file, this.opts.config.glob, { dot: false })) continue;
      const st = await lstat(`${this.dir}/${file}`).catch(() => undefined);
      if (!st?.isSocket()) continue;
      seen.add(file);
      const name = parse(file).name;
      if (!VM_NAME.test(name)) {
        this.warnOnce(`name:${file}`, `discovery: ${file}: ${JSON.stringify(name)} is not a VM name (1 to 64 of A-Z a-z 0-9 _ . -): skipped`);
        continue;
      }
      if (found.has(name)) {
        this.warnOnce(`twice:${file}`, `discovery: ${file} and ${found.get(name)!.file} both make VM '${name}': ${file} skipped`);
        continue;
      }
      found.set(name, { file, identity: `${st.ino}:${st.ctimeMs}` });
    }
    if (this.stopped) return;
    this.found = found;
    for (const [name, identity] of [...this.ignored]) if (found.get(name)?.identity !== identity) this.ignored.delete(name);
    // Warnings are forgotten with their files (a file that comes back is warned about again).
    for (const k of [...this.warned]) if (!k.startsWith('dir:') && !seen.has(k.slice(k.indexOf(':') + 1))) this.warned.delete(k);
    if (files.length) this.warned.delete(`dir:${this.dir}`);
    const specs: VmSpec[] = [];
    for (const [name, f] of found) {
      if (this.ignored.has(name)) continue;
      try {
        specs.push(this.opts.spec(discoveredEntry(this.opts.config, name, f.file)));
      } catch (e) {
        this.warnOnce(`skip:${f.file}`, `discovery: VM '${name}' not added: ${(e as Error).message}`);
      }
    }
    const report = await this.opts.vms.sync('discover', specs, { atomic: false });
    const file = (name: string) => found.get(name)?.file ?? name;
    for (const name of report.added) {
      this.warned.delete(`fail:${file(name)}`);
      this.opts.log.info(`discovery: VM '${name}' added`, { socket: `${this.dir}/${file(name)}` });
    }
    for (const s of report.skipped) this.warnOnce(`skip:${file(s.name)}`, `discovery: VM '${s.name}' not added: ${s.why}`);
    for (const f of report.failed) this.warnOnce(`fail:${file(f.name)}`, `discovery: ${f.error} (tried again at every scan)`);
  }

  private warnOnce(key: string, text: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.opts.log.warn(text);
  }
}
