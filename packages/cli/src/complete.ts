/**
 * Tab completion for `qmpmux shell`:
 * - command names from `query-commands` (through qmpmux: only what this principal may run, qmpmux's
 *   own commands included), and `transaction(` when it may run `transaction`;
 * - argument names from `query-qmp-schema`: `key=` for a value, `key.` for an object's members
 *   (dotted keys nest, as the grammar reads them), a union's branch members once its tag is typed
 *   (`blockdev-add driver=null-co ` offers `size=`), members already given left out;
 * - values of enum and boolean arguments (`driver=nu` → `driver=null-co`);
 * - inside `transaction(`: action types and their data's members;
 * - in HMP mode (-H): HMP command names and `info` subcommands, from HMP's own `help`.
 */
import type { QmpClient } from '@qmpmux/client';
import type { JsonPlain } from '@qmpmux/protocol';
import { parseArgsWords, tokenize } from './grammar.ts';

/** One entry of `query-qmp-schema` (QEMU's SchemaInfo), the fields completion reads. */
export interface SchemaEntry {
  name: string;
  'meta-type': string;
  'arg-type'?: string;
  members?: { name?: string; type?: string }[];
  tag?: string;
  variants?: { case: string; type: string }[];
  values?: string[];
  'element-type'?: string;
  'json-type'?: string;
}

type Completion = [string[], string];
type Args = Record<string, JsonPlain>;

/** Completion of the command name (the first word) from `names`; readline's [matches, word]. */
export function completeCommand(names: readonly string[], line: string): Completion {
  const word = line.trimStart();
  if (!word || /\s/.test(word) || word.startsWith('{')) return [[], word];
  return [names.filter((n) => n.startsWith(word)), word];
}

const isObject = (v: JsonPlain | undefined): v is Args => typeof v === 'object' && v !== null && !Array.isArray(v);

export class Completer {
  commands: string[] = [];
  /** command → its argument type (a schema name) */
  private argType = new Map<string, string>();
  /** transaction action type → its data's type */
  private actions = new Map<string, string>();
  private byName = new Map<string, SchemaEntry>();
  /** HMP command names (aliases too), and `info`'s subcommands. */
  private hmp: string[] = [];
  private hmpInfo: string[] = [];

  /** Ask the server; a principal that may not run these just gets less completion. */
  async load(qmp: QmpClient): Promise<void> {
    const cmds = await qmp.execute('query-commands').catch(() => [] as { name: string }[]);
    this.commands = cmds.map((c) => c.name).sort();
    const schema = (await qmp.execute<JsonPlain>('query-qmp-schema' as never).catch(() => [])) as unknown as SchemaEntry[];
    this.fromSchema(schema);
  }

  /** HMP mode: command names from HMP's `help`, `info` subcommands from `help info`. */
  async loadHmp(qmp: QmpClient): Promise<void> {
    const help = (line: string) => qmp.execute<string>('human-monitor-command', { 'command-line': line }).catch(() => '');
    this.fromHmpHelp(await help('help'), await help('help info'));
  }

  fromHmpHelp(help: string, helpInfo: string): void {
    // "c|cont  -- resume emulation", "info [subcommand] -- …"; `help info`: "info balloon  -- …".
    // A line that starts with white space continues the one before.
    const heads = (text: string) => text.split(/\r?\n/).filter((l) => /^\S/.test(l)).map((l) => l.split(/\s+/));
    this.hmp = [...new Set(heads(help).flatMap((w) => w[0]!.split('|')))].sort();
    this.hmpInfo = [...new Set(heads(helpInfo).map((w) => w[1] ?? '').filter(Boolean))].sort();
  }

  fromSchema(schema: readonly SchemaEntry[]): void {
    this.byName = new Map(schema.map((e) => [e.name, e]));
    this.argType.clear();
    this.actions.clear();
    for (const e of schema) if (e['meta-type'] === 'command' && e['arg-type']) this.argType.set(e.name, e['arg-type']);
    // transaction: actions: [TransactionAction], a union on 'type' whose branches have 'data'.
    const actionsType = this.member(this.argType.get('transaction'), 'actions', {});
    const union = this.byName.get(this.byName.get(actionsType ?? '')?.['element-type'] ?? '');
    for (const v of union?.variants ?? []) {
      const data = this.member(v.type, 'data', {});
      if (data) this.actions.set(v.case, data);
    }
  }

  /** readline's completer for a QMP line: [matches, the word they replace]. */
  complete(line: string, inTransaction: boolean): Completion {
    if (line.trimStart().startsWith('{')) return [[], line];
    let words: string[];
    try {
      words = tokenize(line);
    } catch {
      return [[], '']; // an open quote: nothing to offer
    }
    if (/\s$/.test(line) || !words.length) words.push('');
    if (!inTransaction && words[0]?.startsWith('transaction(') && words.length > 1) {
      // `transaction( abort` on one line: the rest is the first action.
      words = words[0] === 'transaction(' ? words.slice(1) : [words[0].slice('transaction('.length), ...words.slice(1)];
      inTransaction = true;
    }
    const word = words[words.length - 1]!;
    if (words.length === 1) {
      const names = inTransaction ? [...this.actions.keys(), ')'] : [...this.commands, ...(this.commands.includes('transaction') ? ['transaction('] : [])];
      return [names.filter((n) => n.startsWith(word)).sort(), word];
    }
    const root = inTransaction ? this.actions.get(words[0]!) : this.argType.get(words[0]!);
    if (!root) return [[], word];
    let given: Args;
    try {
      given = parseArgsWords(words.slice(1, -1).filter((w) => w !== ')'));
    } catch {
      given = {};
    }
    const eq = word.indexOf('=');
    if (eq >= 0) return [this.values(root, word.slice(0, eq), given).map((v) => `${word.slice(0, eq)}=${v}`).filter((w) => w.startsWith(word)), word];
    const dot = word.lastIndexOf('.');
    const prefix = word.slice(0, dot + 1);
    const path = dot < 0 ? [] : word.slice(0, dot).split('.');
    let type: string | undefined = root;
    let at: JsonPlain | undefined = given;
    for (const k of path) {
      type = this.member(type, k, isObject(at) ? at : {});
      at = isObject(at) ? at[k] : undefined;
    }
    const here = isObject(at) ? at : {};
    const out: string[] = [];
    for (const m of this.members(type, here)) {
      const kinds = this.kinds(m.type);
      // Given already: not again (an object given in part still has members to offer).
      if (m.name in here && !(kinds.object && isObject(here[m.name]))) continue;
      if (kinds.object) out.push(`${prefix}${m.name}.`);
      if (kinds.scalar && !(m.name in here)) out.push(`${prefix}${m.name}=`);
    }
    return [out.filter((w) => w.startsWith(word)).sort(), word];
  }

  /** readline's completer for an HMP line. */
  completeHmp(line: string): Completion {
    const words = line.trimStart().split(/\s+/);
    const word = words[words.length - 1]!;
    if (words.length === 1) return [this.hmp.filter((n) => n.startsWith(word)), word];
    if (words.length === 2 && (words[0] === 'info' || words[0] === 'i')) return [this.hmpInfo.filter((n) => n.startsWith(word)), word];
    return [[], word];
  }

  /** An object type's members, with the branch its tag selects in `given` (unions nest). */
  private members(type: string | undefined, given: Args): { name: string; type: string }[] {
    const t = this.byName.get(type ?? '');
    if (!t) return [];
    if (t['meta-type'] === 'alternate') return (t.members ?? []).flatMap((m) => this.members(m.type, given));
    if (t['meta-type'] !== 'object') return [];
    const own = (t.members ?? []).filter((m): m is { name: string; type: string } => typeof m.name === 'string' && typeof m.type === 'string');
    const tag = t.tag !== undefined ? given[t.tag] : undefined;
    const branch = typeof tag === 'string' ? t.variants?.find((v) => v.case === tag) : undefined;
    return branch ? [...own, ...this.members(branch.type, given)] : own;
  }

  private member(type: string | undefined, name: string, given: Args): string | undefined {
    return this.members(type, given).find((m) => m.name === name)?.type;
  }

  /** Whether a member of this type takes members of its own (`key.`), a plain value (`key=`), or both. */
  private kinds(type: string): { object: boolean; scalar: boolean } {
    const t = this.byName.get(type);
    if (t?.['meta-type'] === 'object') return { object: true, scalar: false };
    if (t?.['meta-type'] === 'alternate') {
      const k = (t.members ?? []).map((m) => this.kinds(m.type ?? ''));
      return { object: k.some((x) => x.object), scalar: k.some((x) => x.scalar) };
    }
    return { object: false, scalar: true };
  }

  /** The values worth offering for `key` (a dotted path): an enum's values, true/false. */
  private values(root: string, key: string, given: Args): string[] {
    let type: string | undefined = root;
    let at: JsonPlain | undefined = given;
    for (const k of key.split('.')) {
      type = this.member(type, k, isObject(at) ? at : {});
      at = isObject(at) ? at[k] : undefined;
    }
    const scalars = (t: SchemaEntry | undefined): string[] => {
      if (!t) return [];
      if (t['meta-type'] === 'enum') return t.values ?? (t.members ?? []).map((m) => m.name ?? '');
      if (t['meta-type'] === 'builtin' && t['json-type'] === 'boolean') return ['true', 'false'];
      if (t['meta-type'] === 'alternate') return (t.members ?? []).flatMap((m) => scalars(this.byName.get(m.type ?? '')));
      return [];
    };
    return scalars(this.byName.get(type ?? ''));
  }
}
