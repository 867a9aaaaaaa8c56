/** docs/cli.md and the README's Use section stay in step with the commands themselves. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runQmpmux } from '@qmpmux/e2e';
import { COMMANDS } from '../src/main.ts';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const read = (f: string) => readFileSync(resolve(ROOT, f), 'utf8');

describe('the CLI documentation', () => {
  it("docs/cli.md has a section per command whose block is exactly that command's --help", async () => {
    const md = read('docs/cli.md');
    const sections = [...md.matchAll(/^## qmpmux (\S+)\n```\n([\s\S]*?)\n```$/gm)].map((m) => [m[1]!, m[2]!] as const);
    assert.deepEqual(sections.map(([name]) => name).sort(), Object.keys(COMMANDS).sort(), 'one section per command, no other');
    for (const [name, text] of sections) {
      const r = await runQmpmux([name, '--help']);
      assert.equal(r.code, 0);
      assert.equal(text, r.out.trimEnd(), `docs/cli.md's qmpmux ${name} (regenerate it from: qmpmux ${name} --help)`);
    }
  });

  it("the README's Use section shows the common lines of every command", () => {
    const use = /^## Use\n([\s\S]*?)\n## /m.exec(read('README.md'))![1]!;
    for (const line of ['npx qmpmux serve --upstream', 'npx qmpmux serve --check-config', 'npx qmpmux shell unix:', 'npx qmpmux shell -H', '| npx qmpmux shell', 'npx qmpmux events', '--replay', 'npx qmpmux clients', 'npx qmpmux audit']) {
      assert.ok(use.includes(line), `README Use: ${line}`);
    }
    assert.ok(use.includes('docs/cli.md'), 'and points to docs/cli.md');
  });
});
