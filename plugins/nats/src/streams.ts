/**
 * Make sure a JetStream stream exists: created with our settings when absent; an existing one is used
 * as it is and never changed (the operator, or another qmpmux host, may have chosen its settings):
 * each setting that differs from ours is logged once as a warning, and a stream whose subjects do not
 * capture ours is logged as an error (publishing to it then fails and is retried; events pile up to
 * maxPendingPublish and then count as a gap).
 */
import { type JetStreamManager, type StreamConfig, StorageType, JetStreamApiError } from '@nats-io/jetstream';
import type { Logger } from '@qmpmux/core';

export interface WantedStream {
  name: string;
  subjects: string[];
  maxAgeMs: number;
  maxBytes: number;
  maxMsgs: number;
  duplicateWindowMs: number;
}

const ms = (n: number) => n * 1_000_000; // nanoseconds

/** Does the subject filter `pattern` capture every subject `subject` (which may hold wildcards) matches? */
export function covers(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return i < s.length;
    if (i >= s.length || s[i] === '>') return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

export async function ensureStream(jsm: JetStreamManager, want: WantedStream, log: Logger): Promise<'created' | 'existing'> {
  const config: Partial<StreamConfig> & { name: string } = {
    name: want.name,
    subjects: want.subjects,
    storage: StorageType.File,
    max_age: ms(want.maxAgeMs),
    max_bytes: want.maxBytes,
    max_msgs: want.maxMsgs,
    duplicate_window: ms(want.duplicateWindowMs),
  };
  let info;
  try {
    info = await jsm.streams.info(want.name);
  } catch (e) {
    if (!(e instanceof JetStreamApiError) || e.code !== 10059) throw e; // 10059: stream not found
    try {
      await jsm.streams.add(config);
      log.info(`created JetStream stream ${want.name}`, { subjects: want.subjects, maxAgeMs: want.maxAgeMs, maxBytes: want.maxBytes, maxMsgs: want.maxMsgs });
      return 'created';
    } catch (e2) {
      // Another host created it meanwhile: use that one.
      if (!(e2 instanceof JetStreamApiError) || e2.code !== 10058) throw e2; // 10058: name already in use
      info = await jsm.streams.info(want.name);
    }
  }
  const have = info.config;
  const missing = want.subjects.filter((s) => !have.subjects?.some((p) => covers(p, s)));
  if (missing.length) log.error(`JetStream stream ${want.name} exists but does not capture ${missing.join(', ')}: those messages cannot be stored (its subjects: ${(have.subjects ?? []).join(', ') || 'none'})`);
  const diff: string[] = [];
  const cmp = (what: string, mine: number | string, theirs: number | string | undefined) => {
    if (mine !== theirs) diff.push(`${what} ${theirs} (configured: ${mine})`);
  };
  cmp('storage', StorageType.File, have.storage);
  cmp('max_age ns', config.max_age!, have.max_age);
  cmp('max_bytes', want.maxBytes, have.max_bytes);
  cmp('max_msgs', want.maxMsgs, have.max_msgs);
  cmp('duplicate_window ns', config.duplicate_window!, have.duplicate_window);
  if (diff.length) log.warn(`JetStream stream ${want.name} exists with other settings; it is used as it is: ${diff.join(', ')}`);
  return 'existing';
}
