/** Shared bits of the hmp-audit tests. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditWriter, decodeRecords, detectFormat, type AuditRecord, type WriterOptions } from '../src/index.ts';

export function tempDir(prefix = 'hmp-audit-'): { dir: string; rm(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, rm: () => rmSync(dir, { recursive: true, force: true }) };
}

export function openWriter(path: string, over: Partial<WriterOptions> = {}): AuditWriter {
  return AuditWriter.open({ path, format: 'json', fsync: 'batch', batchMaxRecords: 64, batchMaxDelayMs: 20, rotateBytes: 0, ...over });
}

/** Every complete record of one file. */
export function records(file: string): AuditRecord[] {
  const buf = readFileSync(file);
  const out: AuditRecord[] = [];
  for (const d of decodeRecords(buf, detectFormat(buf[0])!)) if (d.ok) out.push(d.record);
  return out;
}
