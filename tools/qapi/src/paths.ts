/**
 * Where the toolchain finds its inputs and writes its output. The QAPI schema files are test data
 * kept outside the repository, read in place, never copied in: `QMPMUX_QAPI_DIR` when set, else
 * `../shared/qapi` next to the checkout when it is there, else QEMU 7.2's own `qapi/*.json` from
 * Debian's `qemu` source package, fetched once by scripts/fetch-qapi.sh into
 * node_modules/.cache/qmpmux-qapi (a fresh clone on its own). `QMPMUX_QAPI_NO_SHARED=1` ignores
 * ../shared (CI runs the QAPI tests once that way).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is tools/qapi/src/paths.ts). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Where the fallback keeps what it fetched. */
export const qapiCacheDir = resolve(repoRoot, 'node_modules/.cache/qmpmux-qapi');

function findQapiData(): string {
  const env = process.env['QMPMUX_QAPI_DIR'];
  if (env) return env;
  const shared = resolve(repoRoot, '../shared/qapi');
  if (!process.env['QMPMUX_QAPI_NO_SHARED'] && existsSync(resolve(shared, 'qemu-7.2/qapi-schema.json'))) return shared;
  if (!existsSync(resolve(qapiCacheDir, 'qemu-7.2/qapi-schema.json'))) {
    execFileSync(resolve(repoRoot, 'tools/qapi/scripts/fetch-qapi.sh'), [qapiCacheDir], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return qapiCacheDir;
}

/** Directory holding `qemu-7.2/`, `misc.json` and the recorded introspection. */
export const qapiDataDir = findQapiData();

/** True when the data is ../shared's (its misc.json is a later QEMU's than 7.2's, with other doc texts). */
export const qapiFromShared = qapiDataDir === resolve(repoRoot, '../shared/qapi');

/** Root of the QEMU 7.2 schema, the version of the installed QEMU. */
export const defaultSchema = resolve(qapiDataDir, 'qemu-7.2/qapi-schema.json');

/** The committed generated module. */
export const defaultOutput = resolve(repoRoot, 'packages/qapi-types/src/generated.ts');

/** A path-free label for a schema file: `qemu-7.2/qapi-schema.json`. */
export function schemaLabel(schema: string): string {
  return `${basename(dirname(schema))}/${basename(schema)}`;
}
