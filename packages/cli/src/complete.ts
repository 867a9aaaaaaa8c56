/**
 * Tab completion for `qmpmux shell`: command names from `query-commands` (through qmpmux: only what
 * this principal may run, qmpmux's own commands included), argument names (`key=`) from
 * `query-qmp-schema`, and transaction action types from the schema of `transaction`.
 */
import type { QmpClient } from '@qmpmux/client';
import type { JsonPlain } from '@qmpmux/protocol';

type SchemaEntry = { name: string; 'meta-type': string; 'arg-type'?: string; members?: { name: string; type: string }[]; variants?: { case: string; type: string }[]; 'element-type'?: string };

/** Completion of the command name (the first word) from `names`; readline's [matches, word]. */
export function completeCommand(names: readonly string[], line: string): [string[], string] {
  const word = line.trimStart();
  if (!word || /\s/.test(word) || word.startsWith('{')) return [[], word];
  return [names.filter((n) => n.startsWith(word)), word];
}

export class Completer {
  commands: string[] = [];
  /** command → its argument names */
  args = new Map<string, string[]>();
  /** transaction action type → its data's member names */
  actions = new Map<string, string[]>();

  /** Ask the server; a principal that may not run these just gets less completion. */
  async load(qmp: QmpClient): Promise<void> {
    const cmds = await qmp.execute('query-commands').catch(() => [] as { name: string }[]);
    this.commands = cmds.map((c) => c.name).sort();
    const schema = (await qmp.execute<JsonPlain>('query-qmp-schema' as never).catch(() => [])) as unknown as SchemaEntry[];
    this.fromSchema(schema);
  }

  fromSchema(schema: readonly SchemaEntry[]): void {
    const byName = new Map(schema.map((e) => [e.name, e]));
    const members = (type: string | undefined): string[] => {
      const t = type ? byName.get(type) : undefined;
      return t?.['meta-type'] === 'object' ? (t.members ?? []).map((m) => m.name) : [];
    };
    for (const e of schema) if (e['meta-type'] === 'command') this.args.set(e.name, members(e['arg-type']));
    // transaction: actions: [TransactionAction], a union on 'type' whose branches have 'data'.
    const tx = byName.get(byName.get('transaction')?.['arg-type'] ?? '');
    const actionsMember = tx?.members?.find((m) => m.name === 'actions');
    const arr = actionsMember ? byName.get(actionsMember.type) : undefined;
    const union = arr?.['element-type'] ? byName.get(arr['element-type']) : undefined;
    for (const v of union?.variants ?? []) {
      const branch = byName.get(v.type);
      const data = branch?.members?.find((m) => m.name === 'data');
      this.actions.set(v.case, members(data?.type));
    }
  }

  /** readline's completer: [matches, the word they replace]. */
  complete(line: string, inTransaction: boolean): [string[], string] {
    if (line.trimStart().startsWith('{')) return [[], line];
    const words = line.trimStart().split(/\s+/);
    const word = words[words.length - 1]!;
    if (words.length === 1) {
      const names = inTransaction ? [...this.actions.keys(), ')'].sort() : [...this.commands, 'transaction('];
      return [names.filter((n) => n.startsWith(word)), word];
    }
    if (word.includes('=') || word.includes('"') || word.includes("'")) return [[], word];
    const first = words[0]!;
    const known = inTransaction ? this.actions.get(first) : this.args.get(first);
    if (!known) return [[], word];
    const used = new Set(words.slice(1, -1).map((w) => w.split('=')[0]));
    return [known.filter((a) => !used.has(a) && a.startsWith(word)).map((a) => `${a}=`), word];
  }
}
