/** Schema file in, TypeScript module text out: the one function the CLI and the staleness test share. */
import { generateTypeScript } from './gen-ts.ts';
import { defaultSchema, schemaLabel } from './paths.ts';
import { loadSchema } from './schema.ts';

export const REGENERATE_COMMAND = 'npm run generate:qapi';

export function generateFromSchema(schema: string = defaultSchema): string {
  return generateTypeScript(loadSchema(schema), { source: schemaLabel(schema), regenerate: REGENERATE_COMMAND });
}
