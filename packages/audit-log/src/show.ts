/**
 * Reading a log for people: filter records by principal, time and command, print them one per line
 * (or as JSON lines), and follow the active file as it grows and rotates.
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeRecords, detectFormat, type AuditRecord, type LogFormat } from './codec.ts';
import { matchHmpName, normalizeHmpName } from './hmp-names.ts';
import { listSegments, readEnds } from './files.ts';
import { orderFiles, readLogFile } from './read.ts';

export interface ShowFilter {
  /** Exact principal; '' selects records without one. */
  principal?: string;
  /** Milliseconds since the epoch, inclusive. */
  since?: number;
  until?: number;
  /** A QMP command name or an HMP command (aliases resolved, `info *` and trailing `*` allowed). */
  command?: string;
}

export function compileFilter(f: ShowFilter): (r: AuditRecord) => boolean {
  const hmpPattern = f.command !== undefined ? normalizeHmpName(f.command) : undefined;
  return (r) => {
    if (f.principal !== undefined || f.command !== undefined) {
      if (r.type !== 'command' && r.type !== 'reply') return false;
      if (f.principal !== undefined && (r.principal ?? '') !== f.principal) return false;
      if (f.command !== undefined) {
        const name = (r.hmp as { name?: string } | undefined)?.name;
        const qmp = r.qmp as string | undefined;
        const okQmp = qmp !== undefined && (f.command.endsWith('*') ? qmp.startsWith(f.command.slice(0, -1)) : qmp === f.command);
        const okHmp = name !== undefined && matchHmpName(hmpPattern!, name);
        if (!okQmp && !okHmp) return false;
      }
    }
    if (f.since !== undefined || f.until !== undefined) {
      const t = Date.parse(r.time);
      if (f.since !== undefined && !(t >= f.since)) return false;
      if (f.until !== undefined && !(t <= f.until)) return false;
    }
    return true;
  };
}

/** `2025-01-01T…`, `1700000000` (epoch seconds), or `15m` / `2h` / `3d` / `30s` ago. */
export function parseTime(s: string, now = Date.now()): number {
  const rel = /^(\d+(?:\.\d+)?)([smhd])$/.exec(s);
  if (rel) return now - Number(rel[1]) * { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[rel[2] as 's' | 'm' | 'h' | 'd'];
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new Error(`cannot read the time '${s}' (ISO 8601, epoch seconds, or 15m/2h/3d ago)`);
  return t;
}

export function formatRecord(r: AuditRecord): string {
  const who = typeof r.principal === 'string' ? r.principal : '-';
  const head = `${r.time} #${r.seq}`;
  if (r.type === 'command') {
    const c = (r.conn ?? {}) as Record<string, unknown>;
    const conn = `${c.transport}:${c.address}${c.pid !== undefined ? `[pid ${c.pid} uid ${c.uid}]` : ''}`;
    const h = r.hmp as { line?: string | null; name?: string; cpuIndex?: number } | undefined;
    const what = h
      ? `hmp ${JSON.stringify(h.line)}${h.name !== undefined ? ` (${h.name})` : ''}${h.cpuIndex !== undefined ? ` cpu ${h.cpuIndex}` : ''}`
      : `${r.qmp}${r.arguments !== undefined ? ' ' + JSON.stringify(r.arguments) : ''}`;
    const d = r.decision as { allowed?: boolean; rule?: string } | undefined;
    return `${head} command client ${r.client} ${who} ${conn} ${what} ${d?.allowed ? 'allowed' : 'REFUSED'} by ${d?.rule}${r.redacted ? ' (redacted)' : ''}`;
  }
  if (r.type === 'reply') {
    const o = (r.outcome ?? {}) as { status?: string; failure?: string; text?: string; error?: { class: string; desc: string }; truncated?: boolean };
    const name = (r.hmp as { name?: string } | undefined)?.name;
    const what = name !== undefined ? `hmp (${name})` : String(r.qmp);
    const detail = o.error ? `${o.error.class}: ${o.error.desc}` : o.text !== undefined ? JSON.stringify(o.text) + (o.truncated ? '…' : '') : '';
    return `${head} reply to #${r.ref} client ${r.client} ${who} ${what} ${o.status}${o.failure ? ` (${o.failure})` : ''} ${r.durationMs}ms${detail ? ' ' + detail : ''}`;
  }
  const { seq: _s, time: _t, type, prev: _p, hash: _h, ...rest } = r;
  return `${head} ${type} ${JSON.stringify(rest)}`;
}

export interface ShowOptions {
  filter: ShowFilter;
  json?: boolean;
  follow?: boolean;
  /** Poll interval while following (ms). */
  pollMs?: number;
  out(line: string): void;
  warn(line: string): void;
  signal?: AbortSignal;
}

/** Print matching records of the files (chain order); with `follow`, keep printing the last file's new ones. */
export async function show(paths: readonly string[], opts: ShowOptions): Promise<void> {
  const keep = compileFilter(opts.filter);
  const print = (r: AuditRecord) => {
    if (keep(r)) opts.out(opts.json ? JSON.stringify(r) : formatRecord(r));
  };
  const files = orderFiles(paths.map(readLogFile));
  for (const f of files) {
    for (const d of f.items) {
      if (d.ok) print(d.record);
      else opts.warn(`${f.file}: byte ${d.start}${d.line ? ` (line ${d.line})` : ''}: ${d.reason}`);
    }
  }
  if (!opts.follow || !files.length) return;
  const last = files[files.length - 1]!;
  // Continue after the complete records already printed.
  const done = last.items.filter((d) => d.ok || !d.torn).reduce((m, d) => Math.max(m, d.end), 0);
  const seen = files.flatMap((f) => f.items).reduce((m, d) => (d.ok ? Math.max(m, d.record.seq) : m), 0);
  await follow(last.file, done, last.format, seen, print, opts);
}

/**
 * Follow a log by its path: print records as the file grows; when it is rotated (another inode at the
 * path), finish the old file, then catch up on segments rotated away meanwhile (several rotations can
 * happen between two polls), then go on with the new file. Records are printed once each, in seq order.
 */
async function follow(path: string, offset: number, format: LogFormat | undefined, seen: number, print: (r: AuditRecord) => void, opts: ShowOptions): Promise<void> {
  let lastSeq = seen;
  const emit = (r: AuditRecord) => {
    if (r.seq <= lastSeq) return;
    lastSeq = r.seq;
    print(r);
  };
  let fd = openSync(path, 'r');
  let ino = fstatSync(fd).ino;
  let pending = Buffer.alloc(0);
  let pos = offset;
  const drain = (final: boolean) => {
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024);
      const n = readSync(fd, chunk, 0, chunk.length, pos);
      if (n <= 0) break;
      pos += n;
      pending = Buffer.concat([pending, chunk.subarray(0, n)]);
    }
    format ??= detectFormat(pending[0]);
    if (!format || !pending.length) return;
    const base = pos - pending.length;
    let used = 0;
    for (const d of decodeRecords(pending, format, final, base)) {
      if (d.ok) emit(d.record);
      else opts.warn(`${path}: byte ${d.start}: ${d.reason}`);
      used = d.end - base;
      if (!d.ok && format === 'msgpack') used = pending.length; // cannot re-frame: skip what is there
    }
    pending = pending.subarray(used);
  };
  const catchUp = () => {
    // Newest segments first, back to the one holding what was printed last.
    const missed: string[] = [];
    for (const s of listSegments(path).reverse()) {
      missed.unshift(s.file);
      let first: AuditRecord | undefined;
      try {
        first = readEnds(s.file)?.first;
      } catch {
        first = undefined; // a damaged segment: read it whole below, warnings and all
      }
      if (first && first.seq <= lastSeq + 1) break;
    }
    for (const f of missed) for (const d of readLogFile(f).items) if (d.ok) emit(d.record);
  };
  try {
    while (!opts.signal?.aborted) {
      drain(false);
      let st;
      try {
        st = statSync(path);
      } catch {
        st = undefined; // between rotation's rename and the new file
      }
      if (st && (st.ino !== ino || st.size < pos)) {
        drain(true); // the rest of the rotated-away file
        closeSync(fd);
        catchUp();
        fd = openSync(path, 'r');
        ino = fstatSync(fd).ino;
        pos = 0;
        pending = Buffer.alloc(0);
        format = undefined;
        continue;
      }
      try {
        await sleep(opts.pollMs ?? 200, undefined, { signal: opts.signal });
      } catch {
        break; // aborted
      }
    }
  } finally {
    closeSync(fd);
  }
}
