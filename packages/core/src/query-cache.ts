/**
 * The query cache and single-flight keys (docs/operations.md argues both lists).
 *
 * CACHED: answers that cannot change while one QMP connection to QEMU stands. The first answer QEMU
 * gives on a link is kept (after qmpmux's own commands were added to introspection) and served again,
 * byte for byte, with only the asking client's id spliced in. A reconnect (a new QEMU, maybe another
 * binary) empties the cache. Only argument-less forms are cached.
 *
 * SINGLE_FLIGHT: pure queries whose answer may change, but whose asking has no effect. Identical ones
 * that wait in the dispatcher at the same moment go to QEMU once; a command joins only one that has
 * not been written to QEMU yet, so no client gets an answer older than its own request.
 */
import type { JsonPlain } from '@qmpmux/protocol';
import type { UpstreamReply } from './upstream-message.ts';

export const CACHED_QUERIES: ReadonlySet<string> = new Set([
  'query-qmp-schema',
  'query-commands',
  'query-version',
  'query-command-line-options',
  'query-target',
  'query-machines',
  'query-cpu-definitions',
  'query-kvm',
  'query-uuid',
]);

export const SINGLE_FLIGHT_QUERIES: ReadonlySet<string> = new Set([
  'query-status',
  'query-name',
  'query-cpus-fast',
  'query-block',
  'query-blockstats',
  'query-chardev',
  'query-mice',
  'query-migrate',
  'query-balloon',
  'query-hotpluggable-cpus',
  'query-iothreads',
  'query-memory-devices',
  'query-memory-size-summary',
  'query-pci',
  'query-vnc',
  'query-spice',
  'query-display-options',
  'query-replay',
  'query-jobs',
  'query-block-jobs',
  'query-named-block-nodes',
  'query-dump',
  'query-rocker',
  'query-tpm',
  'query-fdsets',
]);

const noArgs = (args: Record<string, JsonPlain> | undefined) => args === undefined || Object.keys(args).length === 0;

export function cacheKey(command: string, args: Record<string, JsonPlain> | undefined): string | undefined {
  return CACHED_QUERIES.has(command) && noArgs(args) ? command : undefined;
}

export function singleFlightKey(command: string, args: Record<string, JsonPlain> | undefined): string | undefined {
  return SINGLE_FLIGHT_QUERIES.has(command) && noArgs(args) ? command : undefined;
}

/** Bound on cached answers (the list above is far smaller; the bound keeps a future list honest). */
const MAX_ENTRIES = 64;
/** Bound on plugins' views of cached answers (ReplyContext.memo): e.g. principals × 2 introspection commands. */
export const MAX_VIEWS = 1024;

/**
 * One link's cached answers, and what plugins computed from them (views: ReplyContext.memo, e.g. the
 * policy plugin's introspection per principal); `generation` changes on every reconnect.
 */
export class QueryCache {
  private readonly entries = new Map<string, UpstreamReply>();
  private readonly views = new Map<string, unknown>();
  private gen = 0;

  get generation(): number {
    return this.gen;
  }
  /** Answers and views held. */
  get size(): number {
    return this.entries.size + this.views.size;
  }

  get(key: string): UpstreamReply | undefined {
    return this.entries.get(key);
  }

  /** Keep QEMU's answer, if it was given on the current connection (`generation` taken when sent). */
  put(key: string, reply: UpstreamReply, generation: number): void {
    if (generation !== this.gen || this.entries.size >= MAX_ENTRIES) return;
    if (!this.entries.has(key)) this.entries.set(key, reply);
  }

  /**
   * A view of the answer cached under `answer` (taken at `generation`), computed once per `key`: the
   * first result is kept and returned again, while the link stands and until clearViews(). An answer
   * from an older connection gets no kept view (compute runs, nothing is kept); past MAX_VIEWS
   * nothing more is kept either.
   */
  view<T>(answer: string, generation: number, key: string, compute: () => T): T {
    if (generation !== this.gen) return compute();
    const k = `${answer}\0${key}`;
    if (this.views.has(k)) return this.views.get(k) as T;
    const v = compute();
    if (this.views.size < MAX_VIEWS) this.views.set(k, v);
    return v;
  }

  /** Forget every view (the plugins were reconfigured: a view may depend on their options). */
  clearViews(): void {
    this.views.clear();
  }

  /** The connection to QEMU ended: nothing cached may be served again. */
  invalidate(): void {
    this.entries.clear();
    this.views.clear();
    this.gen++;
  }
}
