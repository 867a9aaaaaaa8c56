/**
 * The VMs of one qmpmux process. Each VM is its own Proxy — its own plugin instances, limits, upstream
 * link, listeners and clients, its log lines tagged with its name — so nothing one VM does (its QEMU
 * dying, an event flood, a slow client, a throwing plugin) reaches another.
 *
 * Changes run one at a time: add, remove, and sync (a whole set of one origin's VMs applied as a
 * difference: VMs added, removed, restarted when something other than plugin options changed,
 * reloaded — Proxy.reload, clients stay — when only plugin options did; VMs of other origins and
 * their clients are not touched).
 */
import { ConfigError, Proxy, refuse, type Logger, type Observer, type OutputBudget, type ProxyOptions, type Refusal } from '@qmpmux/core';
import { checkListenersFree, difference, heldListeners, type VmOrigin, type VmSpec } from './vm-spec.ts';

export interface FleetOptions {
  log: Logger;
  /** VMs at most (FleetLimits.maxVms). */
  maxVms: number;
  /** One VM's logger; default `log.child(name)`. */
  vmLog?: (name: string) => Logger;
  /** One VM's metrics observer (packages/metrics). */
  observer?: (name: string) => Observer;
  /**
   * A VM's Proxy exists and is about to start (listen): what must be in place before its first client
   * (metrics) is set up here, so that work does not land on the first commands (the cold-start tail).
   * A VM that then fails to start gets onStopped.
   */
  onCreated?: (vm: RunningVm) => void;
  /** A VM started (its listeners open) / is being stopped: discovery watches it. */
  onStarted?: (vm: RunningVm) => void;
  onStopped?: (vm: RunningVm) => void;
  /** The process-wide output budget every VM's clients count against (maxTotalClientOutputBytes). */
  outputBudget?: OutputBudget;
  /** Warm-up commands for the first VM started (ProxyOptions.warmUp): V8's compiled code serves all. */
  warmUp?: number;
}

/** A running VM: the same object for as long as its Proxy runs (a plugin reload updates `spec`). */
export interface RunningVm {
  readonly spec: VmSpec;
  readonly proxy: Proxy;
}
type Entry = { spec: VmSpec; readonly proxy: Proxy };

/** A refused change, with the catalog refusal the control socket answers. */
export class FleetError extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.desc);
  }
}

/** What a sync did, by VM name. */
export interface SyncReport {
  added: string[];
  removed: string[];
  restarted: string[];
  /** Plugin options changed: Proxy.reload, clients kept. */
  reloaded: string[];
  /** Could not start (the VM is not running; a restarted one gets its previous spec back if it can). */
  failed: { name: string; error: string }[];
  /** Not applied (sync without `atomic`): invalid, or the name belongs to another origin's VM. */
  skipped: { name: string; why: string }[];
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** A sync that did nothing (yet). */
export const emptyReport = (): SyncReport => ({ added: [], removed: [], restarted: [], reloaded: [], failed: [], skipped: [] });

/**
 * The first step of a sync of `origin`'s VMs to `specs`, given the VMs there are now (`current`):
 * which specs to apply, and which to skip (a name another origin's VM holds, unless a config VM takes
 * it over; with `atomic`, any problem throws instead). `check` is what starting a spec would refuse,
 * with the listeners the VMs that stay hold; a VM that does not change is not checked again (discovery
 * syncs every scan). Fleet.sync, and ThreadedFleet's in the main thread before its threads apply it.
 */
export function checkSync(
  origin: VmOrigin,
  current: readonly VmSpec[],
  specs: readonly VmSpec[],
  o: { atomic: boolean; maxVms: number; check(spec: VmSpec, taken: ReadonlyMap<string, string>): void },
): { wanted: Map<string, VmSpec>; skipped: SyncReport['skipped'] } {
  const byName = new Map(current.map((s) => [s.name, s]));
  const skipped: SyncReport['skipped'] = [];
  const wanted = new Map<string, VmSpec>();
  const takeover = (s: VmSpec) => origin === 'config' && byName.has(s.name) && byName.get(s.name)!.origin !== origin;
  const staying = current.filter((c) => c.origin !== origin && !specs.some((s) => s.name === c.name && takeover(s)));
  const taken = heldListeners(staying);
  for (const spec of specs) {
    try {
      const holder = byName.get(spec.name);
      if (holder && holder.origin !== origin && !takeover(spec)) {
        skipped.push({ name: spec.name, why: `the name is in use by a VM from ${holder.origin}` });
        continue;
      }
      if (o.atomic || !holder || difference(holder, spec) !== 'same') o.check(spec, taken);
      if (staying.length + wanted.size >= o.maxVms) throw new ConfigError('limits.maxVms', `more than ${o.maxVms} VMs in all`);
      wanted.set(spec.name, spec);
    } catch (e) {
      if (o.atomic) throw e;
      skipped.push({ name: spec.name, why: message(e) });
    }
  }
  return { wanted, skipped };
}

/**
 * The refusals of adding `spec` beside the VMs there are now (`current`): VM_EXISTS, TOO_MANY_VMS, and
 * VM_INVALID naming the field (`check`: what starting it would refuse, with the listeners the others
 * hold). Fleet.add, and ThreadedFleet's in the main thread.
 */
export function checkAdd(spec: VmSpec, current: readonly VmSpec[], maxVms: number, check: (spec: VmSpec, taken: ReadonlyMap<string, string>) => void): void {
  if (current.some((s) => s.name === spec.name)) throw new FleetError(refuse('VM_EXISTS', spec.name));
  if (current.length >= maxVms) throw new FleetError(refuse('TOO_MANY_VMS', maxVms));
  try {
    check(spec, heldListeners(current));
  } catch (e) {
    throw new FleetError(refuse('VM_INVALID', message(e)));
  }
}

/** Runs what it is given one at a time, in order (a failure does not stop the ones after it). */
export function oneAtATime(): <T>(fn: () => Promise<T>) => Promise<T> {
  let chain: Promise<unknown> = Promise.resolve();
  return (fn) => {
    const run = chain.then(fn);
    chain = run.catch(() => {});
    return run;
  };
}

export class Fleet {
  private readonly vms = new Map<string, Entry>();
  /** Changes (add, remove, sync, stop) run one at a time. */
  private readonly serial = oneAtATime();
  private warmUp: number;
  private stopping = false;

  constructor(private readonly opts: FleetOptions) {
    this.warmUp = opts.warmUp ?? 0;
  }

  get(name: string): RunningVm | undefined {
    return this.vms.get(name);
  }
  list(): RunningVm[] {
    return [...this.vms.values()];
  }
  proxies(): Proxy[] {
    return this.list().map((v) => v.proxy);
  }
  get size(): number {
    return this.vms.size;
  }

  /** Start one VM. Throws FleetError: VM_EXISTS, TOO_MANY_VMS, VM_INVALID (the field named), VM_START_FAILED. */
  add(spec: VmSpec): Promise<RunningVm> {
    return this.serial(async () => {
      if (this.stopping) throw new FleetError(refuse('VM_START_FAILED', spec.name, 'qmpmux is shutting down'));
      checkAdd(spec, this.list().map((vm) => vm.spec), this.opts.maxVms, (x, taken) => this.check(x, taken));
      return this.start(spec);
    });
  }

  /** What starting `spec` would refuse, checked without starting it (throws ConfigError naming the field). */
  validate(spec: VmSpec): void {
    Proxy.validate(this.options(spec));
  }

  /**
   * Stop one VM: its listeners close (unix sockets unlinked), its clients are closed. False when there
   * is none — or, with `origin`, when the VM of that name is not of that origin (by the time this
   * runs, a reload may have given the name to a config VM).
   */
  remove(name: string, why: string, origin?: VmOrigin): Promise<boolean> {
    return this.serial(async () => {
      const vm = this.vms.get(name);
      if (!vm || (origin !== undefined && vm.spec.origin !== origin)) return false;
      await this.stopVm(vm, why);
      return true;
    });
  }

  /**
   * Make `origin`'s VMs be `specs`. `atomic` (a config reload): every spec is checked first and any
   * problem throws a ConfigError naming the field, changing nothing; plugin reloads are all or nothing
   * too (rolled back when one fails). Without it (discovery), a bad spec is skipped with a warning.
   * A config VM takes its name over from a VM of another origin; other origins skip names in use.
   * An atomic sync gives every VM it keeps its plugin options again, changed or not (so files they
   * name, such as token files, are read again, as a single-VM reload does); otherwise only VMs whose
   * options changed are reloaded.
   */
  sync(origin: VmOrigin, specs: readonly VmSpec[], { atomic }: { atomic: boolean }): Promise<SyncReport> {
    return this.serial(() => this.syncNow(origin, specs, atomic));
  }

  /** Stop every VM (at shutdown); nothing starts afterwards. */
  stop(): Promise<void> {
    this.stopping = true;
    return this.serial(async () => {
      await Promise.all(this.list().map((vm) => this.stopVm(vm, 'qmpmux is shutting down')));
    });
  }

  // ---- inside -----------------------------------------------------------------------------------

  private options(spec: VmSpec): ProxyOptions {
    return {
      ...spec.proxy,
      log: this.opts.vmLog?.(spec.name) ?? this.opts.log.child(spec.name),
      observer: this.opts.observer?.(spec.name),
      outputBudget: this.opts.outputBudget,
    };
  }

  /** What Proxy.create would refuse, and listener addresses another VM holds (`taken`: heldListeners). */
  private check(spec: VmSpec, taken: ReadonlyMap<string, string>): void {
    Proxy.validate(this.options(spec));
    checkListenersFree(spec, taken);
  }

  private async start(spec: VmSpec): Promise<RunningVm> {
    const opts = this.options(spec);
    const warmUp = this.warmUp;
    this.warmUp = 0;
    let proxy: Proxy;
    try {
      proxy = await Proxy.create({ ...opts, warmUp });
    } catch (e) {
      throw new FleetError(refuse('VM_START_FAILED', spec.name, message(e)));
    }
    const vm: Entry = { spec, proxy };
    this.opts.onCreated?.(vm);
    try {
      await proxy.start();
    } catch (e) {
      this.opts.onStopped?.(vm);
      await proxy.stop();
      throw new FleetError(refuse('VM_START_FAILED', spec.name, message(e)));
    }
    this.vms.set(spec.name, vm);
    this.opts.onStarted?.(vm);
    this.opts.log.info(`VM '${spec.name}' started (${spec.origin})`, { upstream: spec.proxy.upstream, listen: proxy.listenerAddresses });
    return vm;
  }

  private async stopVm(vm: RunningVm, why: string): Promise<void> {
    if (this.vms.get(vm.spec.name) === vm) this.vms.delete(vm.spec.name);
    this.opts.onStopped?.(vm);
    await vm.proxy.stop();
    this.opts.log.info(`VM '${vm.spec.name}' stopped: ${why}`);
  }

  private async syncNow(origin: VmOrigin, specs: readonly VmSpec[], atomic: boolean): Promise<SyncReport> {
    const report = emptyReport();
    if (this.stopping) return report;
    const mine = (vm: RunningVm) => vm.spec.origin === origin;
    // 1. Check everything before changing anything.
    const { wanted, skipped } = checkSync(origin, this.list().map((vm) => vm.spec), specs, { atomic, maxVms: this.opts.maxVms, check: (spec, taken) => this.check(spec, taken) });
    report.skipped.push(...skipped);
    // 2. Plan.
    const removed = this.list().filter((vm) => mine(vm) && !wanted.has(vm.spec.name));
    const reload: [Entry, VmSpec][] = [];
    const restart: [Entry, VmSpec][] = [];
    const add: VmSpec[] = [];
    for (const spec of wanted.values()) {
      const cur = this.vms.get(spec.name);
      if (!cur) add.push(spec);
      else if (!mine(cur) || difference(cur.spec, spec) === 'restart') restart.push([cur, spec]);
      else if (atomic || difference(cur.spec, spec) === 'plugins') reload.push([cur, spec]);
    }
    // 3. Plugin options, all or nothing (in atomic mode).
    const done: [Entry, VmSpec][] = [];
    for (const [vm, spec] of reload) {
      try {
        await vm.proxy.reload(spec.proxy.plugins);
        done.push([vm, spec]);
      } catch (e) {
        if (!atomic) {
          report.failed.push({ name: spec.name, error: message(e) });
          continue;
        }
        for (const [old] of done.reverse()) await old.proxy.reload(old.spec.proxy.plugins).catch((e2: unknown) => this.opts.log.error(`VM '${old.spec.name}': rollback of plugin options failed: ${message(e2)}`));
        throw e;
      }
    }
    for (const [vm, spec] of done) {
      if (difference(vm.spec, spec) === 'plugins') report.reloaded.push(spec.name);
      vm.spec = spec;
    }
    // 4. Stops first (they free listener addresses), then starts.
    for (const vm of removed) {
      await this.stopVm(vm, origin === 'discover' ? 'its socket is gone' : `no longer in the ${origin}`);
      report.removed.push(vm.spec.name);
    }
    await Promise.all(restart.map(([vm]) => this.stopVm(vm, 'its configuration changed')));
    await Promise.all([
      ...restart.map(async ([vm, spec]) => {
        try {
          await this.start(spec);
          report.restarted.push(spec.name);
        } catch (e) {
          report.failed.push({ name: spec.name, error: message(e) });
          if (mine(vm)) await this.start(vm.spec).catch(() => {}); // the previous one back, if it can
        }
      }),
      ...add.map(async (spec) => {
        try {
          await this.start(spec);
          report.added.push(spec.name);
        } catch (e) {
          report.failed.push({ name: spec.name, error: message(e) });
        }
      }),
    ]);
    return report; // skipped and failed VMs are the caller's to report
  }
}
