/**
 * Verify a chain across files: each record decodes and passes the chain's checks (chain-verify.ts: seq,
 * prev, hash, bytes as the writer encodes them). The first record that fails is named (file, seq, byte
 * offset, line) and checking stops there.
 *
 * A chain cannot show that records were cut off its end: note the head hash `verify` prints and keep it
 * elsewhere. For the same reason a last file that ends inside a record (a crash during a write; the
 * writer cuts it off when it reopens the log) is reported as `torn`, not as broken.
 */
import { GENESIS } from './chain.ts';
import { ChainVerifier } from './chain-verify.ts';
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
  const chain = new ChainVerifier(opts.key);
  const report: VerifyReport = { ok: true, records: 0, files: [], notes: [] };
  let prevFile: string | undefined;
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
        return fail(f, chain.expectedSeq, d.start, d.line, d.reason);
      }
      const r = d.record;
      const expected = chain.expectedSeq;
      if (expected === undefined && r.prev !== GENESIS) report.notes.push(`the chain given starts at seq ${r.seq} in ${f.file}: its link to earlier records (not given) is not checked`);
      const b = chain.check(r, { format: f.format!, bytes: f.buf.subarray(d.start, d.end) });
      if (b) {
        const where = b.kind === 'seq' && i === 0 && prevFile ? ` (between ${prevFile} and ${f.file}: ${r.seq > expected! ? `records ${expected}..${r.seq - 1} missing` : 'overlapping files'})` : '';
        return fail(f, b.seq, d.start, d.line, b.reason + where);
      }
      report.records = chain.records;
      report.firstSeq = chain.firstSeq;
      report.lastSeq = chain.lastSeq;
      report.head = chain.head;
      entry.records++;
      entry.firstSeq ??= r.seq;
      entry.lastSeq = r.seq;
    }
    prevFile = f.file;
  }
  report.alg = chain.alg;
  return report;
}
