/**
 * Verify a chain across files: each record decodes, its seq follows the previous one, its prev is the
 * previous record's hash, and its hash is the SHA-256 (or HMAC) of its canonical JSON. The first record
 * that fails is named (file, seq, byte offset, line) and checking stops there.
 *
 * A chain cannot show that records were cut off its end: note the head hash `verify` prints and keep it
 * elsewhere. For the same reason a last file that ends inside a record (a crash during a write; the
 * writer cuts it off when it reopens the log) is reported as `torn`, not as broken.
 */
import { GENESIS, Hasher } from './chain.ts';
import { computeHash, encodeHashed } from './codec.ts';
import { orderFiles, readLogFile, type LogFile } from './read.ts';

export interface VerifyReport {
  ok: boolean;
  records: number;
  firstSeq?: number;
  lastSeq?: number;
  /** Hash of the last verified record: keep it elsewhere to detect later truncation. */
  head?: string;
  alg?: string;
  files: { file: string; format: string | undefined; records: number; firstSeq?: number; lastSeq?: number }[];
  notes: string[];
  /** The first record that fails. */
  broken?: { file: string; seq: number | undefined; offset: number; line?: number; reason: string };
  /** The last file ends inside a record. */
  torn?: { file: string; offset: number; bytes: number };
}

export function verifyFiles(paths: readonly string[], opts: { key?: Buffer } = {}): VerifyReport {
  return verifyLogFiles(paths.map(readLogFile), opts);
}

export function verifyLogFiles(input: LogFile[], opts: { key?: Buffer } = {}): VerifyReport {
  const files = orderFiles(input);
  const keyed = opts.key ? new Hasher(opts.key) : undefined;
  const plain = new Hasher();
  const report: VerifyReport = { ok: true, records: 0, files: [], notes: [] };
  let expectSeq: number | undefined;
  let prevHash: string | undefined;
  let prevFile: string | undefined;
  let alg: string | undefined;
  const fail = (f: LogFile, seq: number | undefined, offset: number, line: number | undefined, reason: string) => {
    report.ok = false;
    report.broken = { file: f.file, seq, offset, line, reason };
    return report;
  };
  for (const [fi, f] of files.entries()) {
    const entry: VerifyReport['files'][number] = { file: f.file, format: f.format, records: 0 };
    report.files.push(entry);
    if (!f.items.length) {
      report.notes.push(`${f.file}: empty`);
      continue;
    }
    for (const [i, d] of f.items.entries()) {
      if (!d.ok) {
        if (d.torn && i === f.items.length - 1 && fi === files.length - 1) {
          report.torn = { file: f.file, offset: d.start, bytes: d.end - d.start };
          break;
        }
        return fail(f, expectSeq, d.start, d.line, d.reason);
      }
      const r = d.record;
      if (expectSeq === undefined) {
        if (r.prev !== GENESIS) report.notes.push(`the chain given starts at seq ${r.seq} in ${f.file}: its link to earlier records (not given) is not checked`);
      } else {
        if (r.seq !== expectSeq) {
          const where = i === 0 && prevFile ? ` (between ${prevFile} and ${f.file}: ${r.seq > expectSeq ? `records ${expectSeq}..${r.seq - 1} missing` : 'overlapping files'})` : '';
          return fail(f, r.seq, d.start, d.line, `expected seq ${expectSeq}, found ${r.seq}${where}`);
        }
        if (r.prev !== prevHash) return fail(f, r.seq, d.start, d.line, `prev ${r.prev.slice(0, 16)}… is not the hash of record ${expectSeq - 1} (${prevHash!.slice(0, 16)}…)`);
      }
      if (r.type === 'file') {
        alg = typeof r.alg === 'string' ? r.alg : undefined;
        if (alg !== 'sha256' && alg !== 'hmac-sha256') return fail(f, r.seq, d.start, d.line, `unknown chain algorithm ${JSON.stringify(r.alg)}`);
        if (alg === 'hmac-sha256' && !keyed) return fail(f, r.seq, d.start, d.line, 'this chain is keyed (HMAC-SHA256): give its key with --key-file or --key-env');
        if (alg === 'sha256' && keyed) return fail(f, r.seq, d.start, d.line, 'a key was given but this part of the chain is not keyed (plain SHA-256)');
        if (keyed && r.keyId !== keyed.keyId) return fail(f, r.seq, d.start, d.line, `written with key id ${String(r.keyId)}, not with the key given (id ${keyed.keyId})`);
      }
      const hasher = (alg ?? (keyed ? 'hmac-sha256' : 'sha256')) === 'hmac-sha256' ? keyed : plain;
      if (!hasher) return fail(f, r.seq, d.start, d.line, 'this chain is keyed (HMAC-SHA256): give its key with --key-file or --key-env');
      const want = computeHash(r, hasher);
      if (want !== r.hash) return fail(f, r.seq, d.start, d.line, `hash mismatch: the record says ${r.hash.slice(0, 16)}…, its content hashes to ${want.slice(0, 16)}…`);
      // Equal content in other bytes (`\u000B` for `\u000b`, `1E5` for `1e5`) is still an alteration.
      if (!encodeHashed(f.format!, r).equals(f.buf.subarray(d.start, d.end))) return fail(f, r.seq, d.start, d.line, 'the bytes are not as the writer encodes this record (altered encoding)');
      report.records++;
      report.firstSeq ??= r.seq;
      report.lastSeq = r.seq;
      report.head = r.hash;
      entry.records++;
      entry.firstSeq ??= r.seq;
      entry.lastSeq = r.seq;
      expectSeq = r.seq + 1;
      prevHash = r.hash;
    }
    prevFile = f.file;
  }
  report.alg = alg;
  return report;
}
