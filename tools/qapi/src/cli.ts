/**
 * qapi-gen: `generate [--schema FILE] [--out FILE] [--check]`.
 *
 * Writes the TypeScript types for a QAPI schema (by default QEMU 7.2's, into
 * packages/qapi-types/src/generated.ts). With `--check` it writes nothing and exits 1 when the
 * file on disk differs from what would be generated.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generateFromSchema } from './generate.ts';
import { defaultOutput, defaultSchema } from './paths.ts';
import { QapiError } from './source.ts';

const USAGE = 'usage: qapi-gen generate [--schema FILE] [--out FILE] [--check]';

function main(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      schema: { type: 'string' },
      out: { type: 'string' },
      check: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== 'generate') {
    console.error(USAGE);
    return 2;
  }
  const schema = values.schema ? resolve(values.schema) : defaultSchema;
  const out = values.out ? resolve(values.out) : defaultOutput;
  let text: string;
  try {
    text = generateFromSchema(schema);
  } catch (err) {
    if (err instanceof QapiError) {
      console.error(err.message);
      return 1;
    }
    throw err;
  }
  let current: string | undefined;
  try {
    current = readFileSync(out, 'utf8');
  } catch {
    current = undefined;
  }
  const shown = relative(process.cwd(), out) || out;
  if (values.check) {
    if (current === text) return 0;
    console.error(`${shown} is stale: run \`npm run generate:qapi\``);
    return 1;
  }
  if (current === text) {
    console.log(`${shown} is up to date`);
  } else {
    writeFileSync(out, text);
    console.log(`wrote ${shown} (${text.split('\n').length - 1} lines)`);
  }
  return 0;
}

process.exitCode = main(process.argv.slice(2));
