/** Shared bits of the hmp-audit plugin's tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export { readRecords as records } from '@qmpmux/audit-log';

export function tempDir(prefix = 'hmp-audit-'): { dir: string; rm(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, rm: () => rmSync(dir, { recursive: true, force: true }) };
}
