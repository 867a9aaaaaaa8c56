/**
 * Convert a log file between JSON lines and msgpack. Records keep their hashes (the hash covers the
 * canonical JSON, not the file's bytes), so the output verifies like the input. The output is written
 * to a temporary file and renamed; an existing output is never overwritten.
 */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { encodeHashed, type LogFormat } from './codec.ts';
import { AuditFormatError } from './errors.ts';
import { readLogFile } from './read.ts';

export function convertFile(input: string, output: string, to: LogFormat): { records: number; from: LogFormat | undefined; tornBytes: number } {
  if (existsSync(output)) throw new AuditFormatError(`${output} exists; not overwriting it`);
  const f = readLogFile(input);
  let tornBytes = 0;
  const chunks: Buffer[] = [];
  for (const [i, d] of f.items.entries()) {
    if (!d.ok) {
      if (d.torn && i === f.items.length - 1) {
        tornBytes = d.end - d.start;
        break;
      }
      throw new AuditFormatError(`${input}: record at byte ${d.start}${d.line ? ` (line ${d.line})` : ''} does not decode: ${d.reason}`);
    }
    chunks.push(encodeHashed(to, d.record));
  }
  const tmp = `${output}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    const buf = Buffer.concat(chunks);
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, output);
  return { records: chunks.length, from: f.format, tornBytes };
}
