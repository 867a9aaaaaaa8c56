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

/** One link's cached answers; `generation` changes on every reconnect. */
export class QueryCache {
  private readonly entries = new Map<string, UpstreamReply>();
  private gen = 0;

  get generation(): number {
    return this.gen;
  }
  get size(): number {
    return this.entries.size;
  }

  get(key: string): UpstreamReply | undefined {
    return this.entries.get(key);
  }

  /** Keep QEMU's answer, if it was given on the current connection (`generation` taken when sent). */
  put(key: string, reply: UpstreamReply, generation: number): void {
    if (generation !== this.gen || this.entries.size >= MAX_ENTRIES) return;
    if (!this.entries.has(key)) this.entries.set(key, reply);
  }

  /** The connection to QEMU ended: nothing cached may be served again. */
  invalidate(): void {
    this.entries.clear();
    this.gen++;
  }
}
