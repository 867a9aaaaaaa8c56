/**
 * A fleet whose VMs run in worker threads (`"threads": N` in the config, N > 1): each VM runs whole —
 * its Proxy, plugins, listeners and clients — in one of N threads (serve-thread.ts), so a busy VM
 * (an event flood to many clients) does not share its thread with the others; docs/fleet.md, Threads.
 *
 * The main thread keeps the config: it checks every VM before anything changes (as the one-thread
 * fleet does), gives each VM a thread (the one with the fewest VMs, and the same one for as long as
 * the VM runs) and sends each thread the VMs it runs; a thread applies its part as a fleet does
 * (added, removed, restarted, reloaded; the others untouched). A thread that dies takes the process
 * with it (exit 70), as an uncaught exception in the one-thread fleet does.
 */
import type { EventLoopUtilization } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { ConfigError, Proxy, refuse, type JsonPlain, type Logger, type PluginDefinition, type Refusal } from '@qmpmux/core';
import { FleetError, checkAdd, checkListenersFree, checkSync, emptyReport, oneAtATime, type ControlVms, type SyncReport, type VmOrigin, type VmSpec } from '@qmpmux/fleet';
import type { MetricsJson, NotReady } from '@qmpmux/metrics';

/** What a thread is started with. */
export interface ThreadSetup {
  index: number;
  logLevel: string;
  warmUp: number;
  /** This thread's share of maxTotalClientOutputBytes. */
  outputBytes: number;
  maxVms: number;
  /** Keep metrics of this thread's VMs (--http). */
  metrics: boolean;
  /** A discovered VM's QEMU unreachable this long is reported gone (discoverGoneMs). */
  goneMs: number;
}

/** A VmSpec as it crosses to a thread: its plugins by name (a definition is code, not data). */
export type WireSpec = Omit<VmSpec, 'proxy'> & { proxy: Omit<VmSpec['proxy'], 'plugins'> & { plugins: { name: string; options: unknown }[] } };

type Request =
  | { op: 'sync'; origin: VmOrigin; atomic: boolean; specs: WireSpec[] }
  | { op: 'add'; spec: WireSpec }
  | { op: 'remove'; name: string; why: string; origin?: VmOrigin }
  | { op: 'info' }
  | { op: 'metrics' }
  | { op: 'readiness' }
  | { op: 'budget'; bytes: number }
  | { op: 'stop' };
export type ThreadRequest = Request & { id: number };
export type ThreadReply = {
  id: number;
  report?: SyncReport;
  /** add: the new VM's query-vms entry; info: every VM's of the thread. */
  info?: JsonPlain;
  infos?: { name: string; info: JsonPlain }[];
  refusal?: Refusal;
  removed?: boolean;
  metrics?: MetricsJson;
  notReady?: NotReady[];
  error?: { path?: string; problem: string };
};
/** What a thread tells unasked: a discovered VM's QEMU was unreachable for goneMs (its LinkWatch). */
export type ThreadEvent = { event: 'gone'; name: string; goneMs: number };

export function toWire(spec: VmSpec): WireSpec {
  return { ...spec, proxy: { ...spec.proxy, plugins: spec.proxy.plugins.map((p) => ({ name: p.definition.name, options: p.options })) } };
}

export function fromWire(spec: WireSpec, available: readonly PluginDefinition<any>[]): VmSpec {
  const plugins = spec.proxy.plugins.map((p) => ({ definition: available.find((d) => d.name === p.name)!, options: p.options }));
  return { ...spec, proxy: { ...spec.proxy, plugins } };
}

/**
 * A thread's share of maxTotalClientOutputBytes: equal shares for the VM threads and the main thread
 * (whose clients are the control socket's), so that together they stay within the one bound.
 */
export function outputShare(bytes: number, threads: number): number {
  return Math.floor(bytes / (threads + 1));
}

/** A VM's query-vms entry, with the thread that runs it (`thread`, in VM_INFO). */
const withThread = (info: JsonPlain, thread: number): JsonPlain => ({ ...(info as Record<string, JsonPlain>), thread });

/** The exit status when a VM thread dies. */
const THREAD_DIED = 70;

interface Thread {
  worker: Worker;
  pending: Map<number, (r: ThreadReply) => void>;
  /** Its event-loop utilization at the previous reading (utilization()). */
  elu?: EventLoopUtilization;
}

export interface ThreadedFleetOptions {
  threads: number;
  log: Logger;
  logLevel: string;
  warmUp: number;
  maxVms: number;
  maxTotalClientOutputBytes: number;
  /** Keep metrics of every VM (--http): metricsJson() collects them. */
  metrics: boolean;
  /** discoverGoneMs: how long a discovered VM's QEMU may be unreachable before `gone` is called. */
  goneMs: number;
  /** A discovered VM's QEMU was unreachable for `goneMs`, in the thread that runs it (Discovery.gone). */
  gone?(name: string, goneMs: number): void;
}

export class ThreadedFleet implements ControlVms {
  private readonly threads: Thread[] = [];
  /** VM name → the thread that runs it and what it runs with (insertion order: query-vms' order). */
  private readonly placed = new Map<string, { thread: number; spec: VmSpec }>();
  private nextId = 0;
  private stopping = false;
  /** Changes (sync, add, remove) run one at a time, as in a Fleet. */
  private readonly serial = oneAtATime();

  private constructor(private readonly opts: ThreadedFleetOptions) {}

  static async start(opts: ThreadedFleetOptions): Promise<ThreadedFleet> {
    const f = new ThreadedFleet(opts);
    // The thread loads its code as this process does: through tsx.
    const tsx = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./serve-thread.ts', import.meta.url).href;
    const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
    for (let index = 0; index < opts.threads; index++) {
      const setup: ThreadSetup = { index, logLevel: opts.logLevel, warmUp: opts.warmUp, outputBytes: f.share(opts.maxTotalClientOutputBytes), maxVms: opts.maxVms, metrics: opts.metrics, goneMs: opts.goneMs };
      const worker = new Worker(boot, { eval: true, workerData: setup });
      const t: Thread = { worker, pending: new Map() };
      worker.on('message', (r: ThreadReply | ThreadEvent) => {
        if ('event' in r) return f.linkGone(index, r);
        const done = t.pending.get(r.id);
        t.pending.delete(r.id);
        done?.(r);
      });
      worker.on('error', (e) => opts.log.error(`VM thread ${index} failed: ${e.stack ?? e.message}`));
      worker.on('exit', (code) => {
        if (f.stopping) return;
        opts.log.error(`VM thread ${index} exited (${code}): qmpmux stops`);
        process.exit(THREAD_DIED);
      });
      f.threads.push(t);
    }
    return f;
  }

  /** VMs given to a thread (those that failed to start too: a thread keeps trying them at each reload). */
  get size(): number {
    return this.placed.size;
  }

  /** What starting `spec` would refuse, checked here without starting it (throws ConfigError naming the field). */
  validate(spec: VmSpec): void {
    Proxy.validate({ ...spec.proxy, log: this.opts.log });
  }

  /** What a VM thread's Fleet would refuse of `spec`, with the listeners other VMs hold (`taken`). */
  private check(spec: VmSpec, taken: ReadonlyMap<string, string>): void {
    this.validate(spec);
    checkListenersFree(spec, taken);
  }

  /** The specs of every placed VM. */
  private specs(): VmSpec[] {
    return [...this.placed.values()].map((p) => p.spec);
  }

  /** Never a VM of the single-VM form: threads are for the fleet form. */
  get(_name: string): undefined {
    return undefined;
  }

  /**
   * Make `origin`'s VMs be `specs`, as Fleet.sync does (the same checks, in this thread, before any
   * thread changes anything: with `atomic` a bad field throws and changes nothing; without it, as for
   * discovery, a bad spec is skipped); then each thread applies its part.
   */
  sync(origin: VmOrigin, specs: readonly VmSpec[], { atomic }: { atomic: boolean }): Promise<SyncReport> {
    return this.serial(async () => {
      const { wanted, skipped } = checkSync(origin, this.specs(), specs, { atomic, maxVms: this.opts.maxVms, check: (spec, taken) => this.check(spec, taken) });
      // The origin's VMs that left it.
      for (const [name, p] of [...this.placed]) if (p.spec.origin === origin && !wanted.has(name)) this.placed.delete(name);
      const parts: VmSpec[][] = this.threads.map(() => []);
      for (const spec of wanted.values()) {
        // A VM keeps its thread; a config VM takes a name over from another origin's in that VM's thread.
        const thread = this.placed.get(spec.name)?.thread ?? this.leastLoaded();
        this.placed.set(spec.name, { thread, spec });
        parts[thread]!.push(spec);
      }
      const replies = await this.askAll((i) => ({ op: 'sync', origin, atomic, specs: parts[i]!.map(toWire) }));
      const report = emptyReport();
      report.skipped.push(...skipped);
      for (const r of replies) {
        if (r.error) throw r.error.path ? new ConfigError(r.error.path, r.error.problem) : new Error(r.error.problem);
        for (const k of Object.keys(report) as (keyof SyncReport)[]) (report[k] as unknown[]).push(...r.report![k]);
      }
      return report;
    });
  }

  // ---- the control socket (ControlVms) ----

  /** Every VM as query-vms shows it, with the thread that runs it. */
  async info(): Promise<JsonPlain[]> {
    const byName = new Map((await this.askAll(() => ({ op: 'info' }))).flatMap((r) => r.infos ?? []).map((x) => [x.name, x.info]));
    return [...this.placed].flatMap(([n, p]) => (byName.has(n) ? [withThread(byName.get(n)!, p.thread)] : []));
  }

  /** Start one VM in the thread with the fewest; the refusals of a one-thread fleet's add. */
  add(spec: VmSpec): Promise<JsonPlain> {
    return this.serial(() => this.addNow(spec));
  }

  private async addNow(spec: VmSpec): Promise<JsonPlain> {
    checkAdd(spec, this.specs(), this.opts.maxVms, (x, taken) => this.check(x, taken));
    const thread = this.leastLoaded();
    this.placed.set(spec.name, { thread, spec });
    const r = await this.ask(thread, { op: 'add', spec: toWire(spec) });
    if (r.refusal || r.error) {
      this.placed.delete(spec.name);
      throw new FleetError(r.refusal ?? refuse('VM_START_FAILED', spec.name, r.error!.problem));
    }
    return withThread(r.info!, thread);
  }

  /** Stop one VM in its thread (as Fleet.remove: with `origin`, only a VM of that origin). */
  remove(name: string, why: string, origin?: VmOrigin): Promise<boolean> {
    return this.serial(async () => {
      const p = this.placed.get(name);
      if (!p || (origin !== undefined && p.spec.origin !== origin)) return false;
      const r = await this.ask(p.thread, { op: 'remove', name, why, origin });
      this.placed.delete(name);
      return r.removed === true;
    });
  }

  /** Every thread's VM series (with `metrics`), to merge with the main thread's (mergedMetrics). */
  async metricsJson(): Promise<MetricsJson[]> {
    return (await this.askAll(() => ({ op: 'metrics' }))).map((r) => r.metrics ?? []);
  }

  /** The VMs whose QEMU link is not ready, from every thread (/readyz). */
  async notReady(): Promise<NotReady[]> {
    return (await this.askAll(() => ({ op: 'readiness' }))).flatMap((r) => r.notReady ?? []);
  }

  /** VMs given to each thread, in thread order (metrics). */
  vmsPerThread(): number[] {
    const n = this.threads.map(() => 0);
    for (const p of this.placed.values()) n[p.thread]!++;
    return n;
  }

  /** Each thread's event-loop utilization (0–1) since the previous call, in thread order (metrics). */
  utilization(): number[] {
    return this.threads.map((t) => {
      const now = t.worker.performance.eventLoopUtilization();
      const u = t.elu ? t.worker.performance.eventLoopUtilization(now, t.elu).utilization : now.utilization;
      t.elu = now;
      return u;
    });
  }

  /** maxTotalClientOutputBytes changed (a reload): each thread gets its share. */
  async setOutputLimit(bytes: number): Promise<void> {
    await this.askAll(() => ({ op: 'budget', bytes: this.share(bytes) }));
  }

  /** Stop every VM, then the threads. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.askAll(() => ({ op: 'stop' }));
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }

  /** A thread's LinkWatch says a discovered VM's QEMU is gone: when that thread still runs it as discovered. */
  private linkGone(thread: number, e: ThreadEvent): void {
    const p = this.placed.get(e.name);
    if (this.stopping || p?.thread !== thread || p.spec.origin !== 'discover') return;
    this.opts.gone?.(e.name, e.goneMs);
  }

  private share(bytes: number): number {
    return outputShare(bytes, this.opts.threads);
  }

  private leastLoaded(): number {
    const load = this.vmsPerThread();
    return load.indexOf(Math.min(...load));
  }

  /** Every thread, each with its request (`req(i)`); their replies in thread order. */
  private askAll(req: (thread: number) => Request): Promise<ThreadReply[]> {
    return Promise.all(this.threads.map((_, i) => this.ask(i, req(i))));
  }

  private ask(i: number, req: Request): Promise<ThreadReply> {
    const t = this.threads[i]!;
    const id = ++this.nextId;
    return new Promise((resolve) => {
      t.pending.set(id, resolve);
      t.worker.postMessage({ ...req, id });
    });
  }
}
