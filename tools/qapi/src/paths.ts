/**
 * Where the toolchain finds its inputs and writes its output. The QAPI schema files are test
 * data kept outside the repository (`../shared/qapi` next to the checkout); they are read in
 * place, never copied in. `QMPMUX_QAPI_DIR` points elsewhere.
 */
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is tools/qapi/src/paths.ts). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Directory holding `qemu-7.2/`, `misc.json` and the recorded introspection. */
export const qapiDataDir = process.env['QMPMUX_QAPI_DIR'] ?? resolve(repoRoot, '../shared/qapi');

/** Root of the QEMU 7.2 schema, the version of the installed QEMU. */
export const defaultSchema = resolve(qapiDataDir, 'qemu-7.2/qapi-schema.json');

/** The committed generated module. */
export const defaultOutput = resolve(repoRoot, 'packages/qapi-types/src/generated.ts');

/** A path-free label for a schema file: `qemu-7.2/qapi-schema.json`. */
export function schemaLabel(schema: string): string {
  return `${basename(dirname(schema))}/${basename(schema)}`;
}
