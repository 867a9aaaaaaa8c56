/**
 * The liveness of discovered VMs: a discovered VM whose QEMU link has not been ready for `goneMs`
 * (its QEMU exited and left its socket file behind, or never listened) is reported gone, once, to
 * whoever removes it (Discovery.gone). It runs where the VM's Proxy runs — beside the fleet of the
 * main thread, or of each VM thread (serve-thread.ts) — fed by that fleet's onStarted/onStopped.
 *
 * A VM's watch ends when the fleet stops it (onStopped), so a report is always of the VM that runs.
 * What it keeps is one entry per discovered VM running.
 */
import type { Subscription } from 'rxjs';
import type { RunningVm } from './fleet.ts';

export interface LinkWatchOptions {
  /** How long a link may be down before its VM is reported gone (FleetLimits.discoverGoneMs). */
  goneMs: number;
  /** A discovered VM's link has been down for `goneMs`. */
  gone(vm: RunningVm, goneMs: number): void;
}

export class LinkWatch {
  private readonly watches = new Map<string, { vm: RunningVm; sub: Subscription; timer?: NodeJS.Timeout }>();

  constructor(private readonly opts: LinkWatchOptions) {}

  /** Fleet's onStarted: watch the VM when it was discovered. */
  onStarted(vm: RunningVm): void {
    if (vm.spec.origin !== 'discover') return;
    const name = vm.spec.name;
    this.unwatch(name);
    const w: { vm: RunningVm; sub?: Subscription; timer?: NodeJS.Timeout } = { vm };
    w.sub = vm.proxy.upstreamState$.subscribe((state) => {
      if (state === 'ready') {
        clearTimeout(w.timer);
        w.timer = undefined;
      } else if (!w.timer && state !== 'closed') {
        w.timer = setTimeout(() => {
          if (this.watches.get(name)?.vm !== vm) return;
          this.unwatch(name);
          this.opts.gone(vm, this.opts.goneMs);
        }, this.opts.goneMs);
      }
    });
    this.watches.set(name, w as { vm: RunningVm; sub: Subscription; timer?: NodeJS.Timeout });
  }

  /** Fleet's onStopped. */
  onStopped(vm: RunningVm): void {
    if (this.watches.get(vm.spec.name)?.vm === vm) this.unwatch(vm.spec.name);
  }

  /** Watch nothing more (at shutdown). */
  stop(): void {
    for (const name of [...this.watches.keys()]) this.unwatch(name);
  }

  private unwatch(name: string): void {
    const w = this.watches.get(name);
    if (!w) return;
    clearTimeout(w.timer);
    w.sub.unsubscribe();
    this.watches.delete(name);
  }
}
