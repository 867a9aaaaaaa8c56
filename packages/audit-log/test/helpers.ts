/** Shared bits of the audit-log tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditWriter, type WriterOptions } from '../src/index.ts';

export { readRecords as records } from '../src/index.ts';

export function tempDir(prefix = 'audit-log-'): { dir: string; rm(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, rm: () => rmSync(dir, { recursive: true, force: true }) };
}

export function openWriter(path: string, over: Partial<WriterOptions> = {}): AuditWriter {
  return AuditWriter.open({ path, format: 'json', fsync: 'batch', batchMaxRecords: 64, batchMaxDelayMs: 20, rotateBytes: 0, ...over });
}
