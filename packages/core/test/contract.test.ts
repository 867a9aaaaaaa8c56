/**
 * The plugin contract at the type level: the hook-style table agrees with the types, Plugin<Options>
 * types reconfigure, own commands' run gets arguments typed from `data`, verdicts are the catalog's.
 * Compiled with the repository's options; the expected errors must appear, and nothing else.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { typeDiagnostics } from '@qmpmux/qapi/typecheck';
import { HOOKS, type HookName } from '../src/index.ts';

const here = dirname(fileURLToPath(import.meta.url));
const file = resolve(here, '__contract_probe.ts');

const probe = `
import { answer, ownCommand, refuse, definePlugin, type ForwardHook, type ReverseHook, type FirstHook, type RewritingHook, type FailClosedHook, type Plugin } from '../src/index.ts';
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const t = <T extends true>() => undefined as unknown as T;
t<Equal<ReverseHook, 'onReply' | 'onEvent' | 'onClientDisconnect' | 'close'>>();
t<Equal<ForwardHook, 'reconfigure' | 'onClientConnect' | 'onNegotiated' | 'onCommand'>>();
t<Equal<FirstHook, 'onClientConnect' | 'onCommand'>>();
t<Equal<RewritingHook, 'onCommand' | 'onReply'>>();
t<Equal<FailClosedHook, 'reconfigure' | 'onClientConnect' | 'onCommand'>>();

interface Opts { n: number }
export const good = definePlugin<Opts>({
  name: 'good',
  validate: () => ({ n: 1 }),
  create: (o) => ({
    name: 'good',
    async reconfigure(next) { const n: number = next.n; void n; void o; },
    commands: [
      ownCommand({
        name: '__org.qmpmux_x',
        data: { id: 'str', '*count': 'uint8', '*tags': ['str'], '*sub': { on: 'bool' } },
        async run(args) {
          const id: string = args.id;
          const count: number | undefined = args.count;
          const tags: string[] | undefined = args.tags;
          const on: boolean | undefined = args.sub?.on;
          void id, count, tags, on;
          return answer({ id });
        },
      }),
    ],
    async onCommand(c) { return c.command === 'stop' ? refuse('NOT_PERMITTED', 'stop', 'p') : undefined; },
  }),
});

// EXPECT-ERROR reconfigure takes the plugin's Options
export const bad1: Plugin<Opts> = { name: 'b', async reconfigure(next: { m: string }) { void next; } };
ownCommand({
  name: 'x', data: { id: 'str' },
  // EXPECT-ERROR an argument not in data
  async run(args) { return answer(args.other); },
});
ownCommand({
  name: 'x', data: { '*n': 'int' },
  // EXPECT-ERROR an optional argument may be absent
  async run(args) { const n: number = args.n; return answer(n); },
});
// EXPECT-ERROR a refusal's arguments are the catalog template's
refuse('NOT_PERMITTED', 'stop');
// EXPECT-ERROR verdicts are the contract's, not free-form
export const bad2: Plugin = { name: 'b', async onCommand() { return { action: 'error', desc: 'no class' }; } };
// EXPECT-ERROR a hook is async
export const bad3: Plugin = { name: 'b', onEvent() {} };
`;

describe('the plugin contract in types', () => {
  it('HOOKS names every hook once', () => {
    const hooks: HookName[] = ['reconfigure', 'onClientConnect', 'onNegotiated', 'onCommand', 'onReply', 'onEvent', 'onClientDisconnect', 'close'];
    assert.deepEqual(Object.keys(HOOKS).sort(), [...hooks].sort());
  });

  it('compiles what the contract allows and rejects what it does not', () => {
    const diags = typeDiagnostics([], { [file]: probe });
    const lines = probe.split('\n');
    const expected = lines.flatMap((l, i) => (l.includes('EXPECT-ERROR') ? [i + 2] : []));
    const got = [...new Set(diags.map((d) => Number(/__contract_probe\.ts:(\d+):/.exec(d)?.[1] ?? -1)))];
    const unexpected = diags.filter((d) => !expected.some((n) => d.includes(`__contract_probe.ts:${n}:`)));
    assert.deepEqual(unexpected, [], 'no error outside the EXPECT-ERROR lines');
    for (const n of expected) assert.ok(got.includes(n), `an error on line ${n}: ${lines[n - 1]}`);
  });
});
