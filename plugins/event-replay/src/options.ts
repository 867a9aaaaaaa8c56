/** event-replay's options, their defaults, and their validation (each failure names the field's path). */
import { ConfigError, validate as v } from '@qmpmux/core';
import type { JournalOptions } from './journal.ts';
import type { RingLimits } from './ring.ts';
import { THROTTLE_KEYS } from './state.ts';

export interface AutoReplayRule {
  /** Clients whose principal is one of these; absent: every client. */
  principals: string[] | undefined;
  /** Only these events; absent: every event. */
  names: string[] | undefined;
  /** "history": the held events (oldest first); "latest": only the latest per (name, throttle key). */
  mode: 'history' | 'latest';
  /** Only events received at most this long ago (ms); absent: all that are held. */
  maxAgeMs: number | undefined;
}

export interface EventReplayOptions extends RingLimits {
  /** The on-disk journal; absent: history lives in memory only. */
  journal: JournalOptions | undefined;
  /** (name, throttle key) entries kept as "latest event" state at most. */
  maxStateEntries: number;
  /** The throttle-key table (QMP-NOTES §4) with these entries added or replaced (null: name alone). */
  stateKeys: Record<string, string | null>;
  /** Replay after qmp_capabilities, by the first rule that matches the client. */
  autoReplay: AutoReplayRule[];
}

export const DEFAULTS = Object.freeze({
  maxEvents: 10_000,
  maxBytes: 8 * 1024 * 1024,
  maxAgeMs: 24 * 60 * 60 * 1000,
  maxStateEntries: 1024,
  segmentBytes: 4 * 1024 * 1024,
  maxSegments: 8,
});

const MiB = 1024 * 1024;

export function validateOptions(options: unknown, path: string): EventReplayOptions {
  const o = v.object(options, path, ['maxEvents', 'maxBytes', 'maxAgeMs', 'journal', 'maxStateEntries', 'stateKeys', 'autoReplay']);
  const stateKeys: Record<string, string | null> = { ...THROTTLE_KEYS };
  if (o.stateKeys !== undefined) {
    for (const [name, key] of Object.entries(v.object(o.stateKeys, `${path}.stateKeys`))) {
      if (key !== null && (typeof key !== 'string' || key === '')) throw new ConfigError(`${path}.stateKeys.${name}`, 'expected a data member name or null');
      stateKeys[name] = key;
    }
  }
  return {
    maxEvents: v.int(o.maxEvents, `${path}.maxEvents`, DEFAULTS.maxEvents, 0, 10_000_000),
    maxBytes: v.int(o.maxBytes, `${path}.maxBytes`, DEFAULTS.maxBytes, 0, 4096 * MiB),
    maxAgeMs: v.int(o.maxAgeMs, `${path}.maxAgeMs`, DEFAULTS.maxAgeMs, 0),
    journal: o.journal === undefined ? undefined : journalOptions(o.journal, `${path}.journal`),
    maxStateEntries: v.int(o.maxStateEntries, `${path}.maxStateEntries`, DEFAULTS.maxStateEntries, 0, 1_000_000),
    stateKeys,
    autoReplay: v.array(o.autoReplay, `${path}.autoReplay`, rule),
  };
}

function journalOptions(x: unknown, path: string): JournalOptions {
  const j = v.object(x, path, ['dir', 'segmentBytes', 'maxSegments']);
  return {
    dir: v.string(j.dir, `${path}.dir`),
    segmentBytes: v.int(j.segmentBytes, `${path}.segmentBytes`, DEFAULTS.segmentBytes, 4096, 1024 * MiB),
    maxSegments: v.int(j.maxSegments, `${path}.maxSegments`, DEFAULTS.maxSegments, 1, 100_000),
  };
}

function rule(x: unknown, path: string): AutoReplayRule {
  const r = v.object(x, path, ['principals', 'names', 'mode', 'maxAgeMs']);
  return {
    principals: r.principals === undefined ? undefined : v.array(r.principals, `${path}.principals`, v.string),
    names: r.names === undefined ? undefined : v.array(r.names, `${path}.names`, v.string),
    mode: v.oneOf(r.mode, `${path}.mode`, ['history', 'latest'] as const, 'history'),
    maxAgeMs: r.maxAgeMs === undefined ? undefined : v.int(r.maxAgeMs, `${path}.maxAgeMs`, 0),
  };
}
