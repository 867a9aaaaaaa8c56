/** A scratch directory for the tests of a file (or describe). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

/**
 * A new directory under the OS temp dir, made at once (paths in it can be worked out while the tests
 * are declared) and removed, with everything in it, by an `after` hook registered here.
 */
export function useTempDir(prefix = 'qmpmux-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
