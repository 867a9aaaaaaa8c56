/**
 * TypeScript generator: one module with a type for every enum, struct, union, alternate,
 * command (arguments and return) and event (data) of a resolved model, the doc comments as
 * JSDoc, and the `QmpCommands` / `QmpEvents` maps a typed client keys on.
 *
 * Mapping (QMP-NOTES §9 "Built-in types → TypeScript"):
 * - `str` → string; `number` → number; `bool` → boolean; `null` → null; `any` → QmpJsonValue;
 * - `int`, `int64`, `uint64`, `size` → `number | bigint` (the runtime parser yields bigint
 *   beyond 2^53); the narrower integers → number;
 * - enum → union of string literals; struct → interface extending its base;
 * - union → `Base & (({ tag: 'a' } & BranchA) | { tag: 'b' } | …)`, a discriminated union;
 * - alternate → plain union of its branch types;
 * - `if`-conditioned definitions are all emitted, their condition noted in the JSDoc.
 *
 * The output depends only on the model: same schema, same bytes.
 */
import type { QapiDoc } from './doc.ts';
import type {
  AlternateType,
  Command,
  Condition,
  EnumType,
  Event,
  Feature,
  Member,
  Model,
  ModelType,
  ObjectType,
} from './schema.ts';

export interface GenerateOptions {
  /** Shown in the header: where the schema came from (keep it free of absolute paths). */
  readonly source: string;
  /** The command that regenerates the file, shown in the header. */
  readonly regenerate?: string;
}

const INT64 = 'number | bigint';

/** Render the model as a TypeScript module. */
export function generateTypeScript(model: Model, options: GenerateOptions): string {
  return new Generator(model, options).run();
}

/** A QAPI condition as a C-like expression: `CONFIG_A && !(TARGET_B || TARGET_C)`. */
export function conditionText(c: Condition, nested = false): string {
  if (typeof c === 'string') return c;
  if ('not' in c) return `!${conditionText(c.not, true)}`;
  const [op, items] = 'all' in c ? [' && ', c.all] : [' || ', c.any];
  if (items.length === 1) return conditionText(items[0]!, nested);
  const s = items.map((i) => conditionText(i, true)).join(op);
  return nested ? `(${s})` : s;
}

/** `query-cpus-fast` → `QueryCpusFast`, `RTC_CHANGE` → `RtcChange`. */
export function pascalCase(name: string): string {
  const allCaps = name.toUpperCase() === name;
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => {
      const p = allCaps ? part.toLowerCase() : part;
      return p[0]!.toUpperCase() + p.slice(1);
    })
    .join('');
}

const IDENT_RE = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function propName(name: string): string {
  return IDENT_RE.test(name) ? name : `'${name}'`;
}

function literal(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

class Generator {
  private readonly out: string[] = [];
  /** TS name of every emitted QAPI type (implicit ones included). */
  private readonly tsNames = new Map<string, string>();
  private readonly taken = new Set<string>();

  constructor(
    private readonly model: Model,
    private readonly options: GenerateOptions,
  ) {}

  run(): string {
    this.allocateNames();
    this.header();
    for (const item of this.model.outline) {
      switch (item.kind) {
        case 'doc': this.freeDoc(item.doc); break;
        case 'type': this.namedType(this.model.types.get(item.name)!); break;
        case 'command': this.commandArgs(this.model.commands.get(item.name)!); break;
        case 'event': this.eventData(this.model.events.get(item.name)!); break;
      }
    }
    this.commandMap();
    this.eventMap();
    return `${this.out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
  }

  // ---- names ---------------------------------------------------------------------------

  private allocateNames(): void {
    for (const name of ['QmpJsonValue', 'QmpEmptyObject', 'QmpOpenArguments', 'QmpCommands', 'QmpEvents', 'QmpCommandName', 'QmpEventName', 'QmpOobCommandName', 'QmpCommandArgs', 'QmpCommandReturn', 'QmpEventData']) {
      this.taken.add(name);
    }
    for (const t of this.model.types.values()) {
      if (t.kind === 'enum' || t.kind === 'alternate' || (t.kind === 'object' && t.meta !== 'implicit')) {
        const ts = t.name.replace(/[^A-Za-z0-9_$]/g, '_');
        if (this.taken.has(ts)) throw new Error(`qapi-gen: type '${t.name}' maps to TypeScript name '${ts}', which is already used`);
        this.taken.add(ts);
        this.tsNames.set(t.name, ts);
      }
    }
    const pick = (qapiName: string, candidates: string[]): void => {
      const ts = candidates.find((c) => !this.taken.has(c));
      if (!ts) throw new Error(`qapi-gen: no free TypeScript name for '${qapiName}' (tried ${candidates.join(', ')})`);
      this.taken.add(ts);
      this.tsNames.set(qapiName, ts);
    };
    for (const item of this.model.outline) {
      if (item.kind === 'type') {
        const t = this.model.types.get(item.name)!;
        if (t.kind === 'object' && t.meta === 'union') {
          const base = `q_obj_${t.name}-base`;
          if (this.model.types.has(base)) pick(base, [`${t.name}Base`, `${t.name}Common`, `${t.name}BaseMembers`]);
        }
      } else if (item.kind === 'command') {
        const c = this.model.commands.get(item.name)!;
        if (c.argType && this.isImplicit(c.argType)) {
          const p = pascalCase(c.name);
          pick(c.argType, [`${p}Arguments`, `${p}CommandArguments`]);
        }
      } else if (item.kind === 'event') {
        const e = this.model.events.get(item.name)!;
        if (e.argType && this.isImplicit(e.argType)) {
          const p = pascalCase(e.name);
          pick(e.argType, [`${p}EventData`, `${p}Data`]);
        }
      }
    }
  }

  private isImplicit(name: string): boolean {
    const t = this.model.types.get(name);
    return t?.kind === 'object' && t.meta === 'implicit';
  }

  /** The TypeScript type expression for a QAPI type name. */
  private tsType(name: string): string {
    const t = this.model.types.get(name)!;
    switch (t.kind) {
      case 'builtin':
        switch (t.jsonType) {
          case 'string': return 'string';
          case 'number': return 'number';
          case 'int': return t.bits === 64 ? INT64 : 'number';
          case 'boolean': return 'boolean';
          case 'null': return 'null';
          case 'value': return 'QmpJsonValue';
        }
        break;
      case 'array': {
        const elem = this.tsType(t.element);
        return elem.includes(' ') ? `(${elem})[]` : `${elem}[]`;
      }
      default: {
        const ts = this.tsNames.get(name);
        if (!ts) throw new Error(`qapi-gen: no TypeScript name for '${name}'`);
        return ts;
      }
    }
    throw new Error(`qapi-gen: unknown builtin '${name}'`);
  }

  // ---- output --------------------------------------------------------------------------

  private emit(...lines: string[]): void {
    this.out.push(...lines);
  }

  private header(): void {
    const regen = this.options.regenerate ? ` Regenerate with \`${this.options.regenerate}\`.` : '';
    this.emit(
      `// Generated by @qmpmux/qapi from ${this.options.source}. Do not edit.${regen}`,
      '//',
      '// The QAPI schema is QEMU\'s (GPL-2.0-or-later); the doc comments below are taken from it.',
      '',
      '/**',
      ' * Any JSON value as the QMP parser delivers it: integers beyond 2^53 arrive as bigint.',
      ' * The type of QAPI `any`.',
      ' */',
      'export type QmpJsonValue = null | boolean | number | bigint | string | QmpJsonValue[] | { [key: string]: QmpJsonValue };',
      '',
      '/** The `{}` a command without `returns` answers with. */',
      'export type QmpEmptyObject = { [key: string]: never };',
      '',
      '/** Extra arguments accepted by commands declared with `gen: false` (e.g. `device_add` takes any device property). */',
      'export type QmpOpenArguments = { [key: string]: QmpJsonValue };',
      '',
    );
    const qtype = this.model.types.get('QType');
    if (qtype?.kind === 'enum') {
      this.emit(...jsdoc(['Builtin enum: the JSON type of a QObject.'], ''));
      this.emit(`export type ${this.tsType('QType')} = ${qtype.values.map((v) => literal(v.name)).join(' | ')};`, '');
    }
  }

  private freeDoc(doc: QapiDoc): void {
    const lines: string[] = [];
    if (doc.heading) lines.push(`${'='.repeat(doc.heading.level)} ${doc.heading.text}`);
    if (doc.body) {
      if (lines.length) lines.push('');
      lines.push(...doc.body.split('\n'));
    }
    if (!lines.length) return;
    this.emit('', `// ${'-'.repeat(96)}`, ...lines.map((l) => (l ? `// ${l}` : '//')), '');
  }

  private namedType(t: ModelType): void {
    switch (t.kind) {
      case 'enum': this.enumType(t); break;
      case 'object':
        if (t.meta === 'union') this.unionType(t);
        else this.structType(t);
        break;
      case 'alternate': this.alternateType(t); break;
      default: break;
    }
  }

  private enumType(t: EnumType): void {
    const values = t.values.map((v) => {
      const notes = [v.if !== undefined ? `only if \`${conditionText(v.if)}\`` : '', ...v.features.map((f) => f.name)].filter(Boolean);
      const tail = notes.length ? ` (${notes.join('; ')})` : '';
      return `\`${v.name}\`${tail}${v.doc ? `: ${v.doc}` : ''}`;
    });
    this.emit(...jsdoc(this.docLines(t.doc, { if: t.if, features: t.features, list: ['Values:', ...values] }), ''));
    if (t.values.length === 0) {
      this.emit(`export type ${this.tsType(t.name)} = never;`, '');
      return;
    }
    this.emit(`export type ${this.tsType(t.name)} =`, ...t.values.map((v, i) => `  | ${literal(v.name)}${i === t.values.length - 1 ? ';' : ''}`), '');
  }

  /** An interface for a struct or implicit object; member feature docs come from `ownerDoc`. */
  private structType(t: ObjectType, extraDoc: string[] = [], ownerDoc: QapiDoc | undefined = t.doc): void {
    const own = t.localMembers;
    const base = t.base ? ` extends ${this.tsType(t.base)}` : '';
    this.emit(...jsdoc([...extraDoc, ...this.docLines(t.doc, { if: t.if, features: t.features })], ''));
    if (own.length === 0) {
      this.emit(`export interface ${this.tsType(t.name)}${base} {}`, '');
      return;
    }
    this.emit(`export interface ${this.tsType(t.name)}${base} {`);
    for (const m of own) this.member(m, ownerDoc);
    this.emit('}', '');
  }

  private member(m: Member, ownerDoc: QapiDoc | undefined): void {
    const lines: string[] = [];
    if (m.doc) lines.push(...qapiText(m.doc, this.tsNames));
    if (m.if !== undefined) lines.push(...gap(lines), `Conditional: present only if \`${conditionText(m.if)}\`.`);
    const f = this.features(m.features, ownerDoc);
    if (f.text.length) lines.push(...gap(lines), ...f.text);
    if (f.tags.length) lines.push(...gap(lines), ...f.tags);
    this.emit(...jsdoc(lines, '  '));
    this.emit(`  ${propName(m.name)}${m.optional ? '?' : ''}: ${this.tsType(m.type)};`);
  }

  private unionType(t: ObjectType): void {
    const v = t.variants!;
    const baseName = `q_obj_${t.name}-base`;
    if (this.model.types.has(baseName)) {
      const base = this.model.types.get(baseName) as ObjectType;
      this.structType(base, [`Members common to all branches of {@link ${this.tsType(t.name)}}.`], t.doc);
    }
    const baseTs = this.tsType(t.base ?? baseName);
    const tag = propName(v.tag);
    const branches = v.cases.map((c) => {
      const sel = `{ ${tag}: ${literal(c.name)} }`;
      const body = c.type ? `(${sel} & ${this.tsType(c.type)})` : sel;
      return { body, if: c.if };
    });
    this.emit(...jsdoc(this.docLines(t.doc, { if: t.if, features: t.features }), ''));
    this.emit(`export type ${this.tsType(t.name)} = ${baseTs} & (`);
    for (const b of branches) {
      if (b.if !== undefined) this.emit(`  /** Conditional: present only if \`${conditionText(b.if)}\`. */`);
      this.emit(`  | ${b.body}`);
    }
    this.emit(');', '');
  }

  private alternateType(t: AlternateType): void {
    const list = t.branches.map((b) => {
      const cond = b.if !== undefined ? ` (only if \`${conditionText(b.if)}\`)` : '';
      return `\`${b.name}\` ({@link ${this.linkTarget(b.type)}})${cond}${b.doc ? `: ${b.doc}` : ''}`;
    });
    this.emit(...jsdoc(this.docLines(t.doc, { if: t.if, features: t.features, list: ['Branches:', ...list] }), ''));
    const types = t.branches.map((b) => this.tsType(b.type));
    this.emit(`export type ${this.tsType(t.name)} = ${[...new Set(types)].join(' | ')};`, '');
  }

  private linkTarget(name: string): string {
    const t = this.model.types.get(name)!;
    if (t.kind === 'builtin') return 'QmpJsonValue';
    if (t.kind === 'array') return this.linkTarget(t.element);
    return this.tsType(name);
  }

  private commandArgs(c: Command): void {
    if (!c.argType || !this.isImplicit(c.argType)) return;
    const t = this.model.types.get(c.argType) as ObjectType;
    this.structType(t, [`Arguments of the \`${c.name}\` command ({@link QmpCommands}).`], c.doc);
  }

  private eventData(e: Event): void {
    if (!e.argType || !this.isImplicit(e.argType)) return;
    const t = this.model.types.get(e.argType) as ObjectType;
    this.structType(t, [`Data of the \`${e.name}\` event ({@link QmpEvents}).`], e.doc);
  }

  private commandMap(): void {
    this.emit(
      '',
      `// ${'-'.repeat(96)}`,
      '// Command and event maps',
      '',
      ...jsdoc([
        'Every QMP command: its arguments (`undefined` when it takes none) and what it returns',
        '(`QmpEmptyObject` for the `{}` of commands without `returns`).',
      ], ''),
      'export interface QmpCommands {',
    );
    const oob: string[] = [];
    for (const item of this.model.outline) {
      if (item.kind !== 'command') continue;
      const c = this.model.commands.get(item.name)!;
      if (c.allowOob) oob.push(c.name);
      const flags = [
        c.allowOob ? 'May be run out-of-band (`exec-oob`).' : '',
        c.allowPreconfig ? 'Allowed in the preconfig state.' : '',
        c.gen ? '' : 'Declared with `gen: false`: accepts arguments beyond those listed.',
        c.boxed ? 'Boxed: the arguments are the whole object type.' : '',
      ].filter(Boolean);
      this.emit(...jsdoc(this.docLines(c.doc, { if: c.if, features: c.features, flags, returns: true }), '  '));
      let args = c.argType ? this.tsType(c.argType) : 'undefined';
      if (!c.gen) args = c.argType ? `${args} & QmpOpenArguments` : 'QmpOpenArguments | undefined';
      const ret = c.retType ? this.tsType(c.retType) : 'QmpEmptyObject';
      this.emit(`  ${literal(c.name)}: { args: ${args}; ret: ${ret} };`);
    }
    this.emit(
      '}',
      '',
      '/** Name of a QMP command. */',
      'export type QmpCommandName = keyof QmpCommands;',
      '',
      '/** Arguments of a command (`undefined` when it takes none). */',
      'export type QmpCommandArgs<K extends QmpCommandName> = QmpCommands[K][\'args\'];',
      '',
      '/** What a command returns. */',
      'export type QmpCommandReturn<K extends QmpCommandName> = QmpCommands[K][\'ret\'];',
      '',
      '/** Commands declared with `allow-oob: true`: the only ones `exec-oob` accepts. */',
      `export type QmpOobCommandName = ${oob.length ? oob.map(literal).join(' | ') : 'never'};`,
      '',
    );
  }

  private eventMap(): void {
    this.emit(
      ...jsdoc(['Every QMP event: the type of its `data` (`undefined` when it carries none).'], ''),
      'export interface QmpEvents {',
    );
    for (const item of this.model.outline) {
      if (item.kind !== 'event') continue;
      const e = this.model.events.get(item.name)!;
      this.emit(...jsdoc(this.docLines(e.doc, { if: e.if, features: e.features }), '  '));
      this.emit(`  ${propName(e.name)}: ${e.argType ? this.tsType(e.argType) : 'undefined'};`);
    }
    this.emit(
      '}',
      '',
      '/** Name of a QMP event. */',
      'export type QmpEventName = keyof QmpEvents;',
      '',
      '/** The `data` of an event (`undefined` when it carries none). */',
      'export type QmpEventData<K extends QmpEventName> = QmpEvents[K];',
    );
  }

  // ---- doc comments --------------------------------------------------------------------

  /** JSDoc lines for a definition's doc comment plus what the model adds to it. */
  private docLines(
    doc: QapiDoc | undefined,
    extra: { if?: Condition; features: readonly Feature[]; list?: string[]; flags?: string[]; returns?: boolean },
  ): string[] {
    const names = this.tsNames;
    const lines: string[] = [];
    const para = (text: string[]): void => {
      if (!text.length) return;
      lines.push(...gap(lines), ...text);
    };
    for (const s of doc?.sections ?? []) {
      switch (s.kind) {
        case 'text': para(qapiText(s.text, names)); break;
        case 'admonition': para(qapiText(`${capitalize(s.admonition)}: ${s.text}`, names)); break;
        case 'tagged':
          if (s.tag === 'Note' || s.tag === 'Notes') para(qapiText(`Note: ${s.text}`, names));
          if (s.tag === 'TODO') para(qapiText(`TODO: ${s.text}`, names));
          break;
        default: break;
      }
    }
    if (extra.list && extra.list.length > 1) {
      const [title, ...items] = extra.list;
      para([title!, '', ...items.flatMap((item) => listItem(qapiText(item, names)))]);
    }
    if (extra.flags?.length) para(extra.flags);
    if (extra.if !== undefined) para([`Conditional: present only if \`${conditionText(extra.if)}\`.`]);
    const features = this.features(extra.features, doc);
    para(features.text);
    const tags: string[] = [...features.tags];
    if (doc?.returns && extra.returns) tags.push(...tagLines('@returns', qapiText(doc.returns, names)));
    if (doc?.errors) tags.push(...tagLines('@throws', qapiText(doc.errors, names)));
    if (doc?.since) tags.push(...tagLines('@since', qapiText(doc.since, names)));
    for (const ex of doc?.examples ?? []) {
      const title = ex.title ? ` ${ex.title}` : '';
      tags.push(`@example${title}`, '```', ...ex.text.split('\n'), '```');
    }
    if (tags.length) lines.push(...gap(lines), ...tags);
    return lines;
  }

  /** Feature descriptions (`text`) and the JSDoc tags they imply (`tags`). */
  private features(features: readonly Feature[], doc: QapiDoc | undefined): { text: string[]; tags: string[] } {
    const text: string[] = [];
    const tags: string[] = [];
    for (const f of features) {
      const desc = doc?.features.get(f.name);
      const cond = f.if !== undefined ? ` (only if \`${conditionText(f.if)}\`)` : '';
      if (f.name === 'deprecated') tags.push(...tagLines('@deprecated', desc ? qapiText(desc, this.tsNames) : ['Deprecated.']));
      else if (f.name === 'unstable') tags.push(...tagLines('@experimental', desc ? qapiText(desc, this.tsNames) : []));
      if (desc || cond || (f.name !== 'deprecated' && f.name !== 'unstable')) {
        text.push(...listItem(qapiText(`\`${f.name}\`${cond}${desc ? `: ${desc}` : ''}`, this.tsNames)));
      }
    }
    return { text: text.length ? ['Features:', '', ...text] : [], tags };
  }
}

/** A Markdown list item: `- ` before the first line, continuation lines indented under it. */
function listItem(lines: readonly string[]): string[] {
  return lines.map((l, i) => (i === 0 ? `- ${l}` : l ? `  ${l}` : ''));
}

function capitalize(s: string): string {
  return s[0]!.toUpperCase() + s.slice(1);
}

/** A blank separator line if `lines` already has content. */
function gap(lines: readonly string[]): string[] {
  return lines.length ? [''] : [];
}

function tagLines(tag: string, text: string[]): string[] {
  const [first = '', ...rest] = text;
  if (/^[-*] /.test(first)) return [tag, ...text];
  return [`${tag} ${first}`.trimEnd(), ...rest];
}

/**
 * QAPI doc text as JSDoc text: `@name` references become `{@link Type}` for types and
 * `` `name` `` otherwise (a bare `@` would start a JSDoc tag).
 */
function qapiText(text: string, tsNames: ReadonlyMap<string, string>): string[] {
  const converted = text.replace(/(^|[^\w@.])@([A-Za-z_][\w-]*)/g, (_m, pre: string, name: string) => {
    const ts = tsNames.get(name);
    return ts ? `${pre}{@link ${ts}}` : `${pre}\`${name}\``;
  });
  return converted.split('\n');
}

/** Wrap lines as a JSDoc comment at the given indentation. */
function jsdoc(lines: readonly string[], indent: string): string[] {
  const body = [...lines];
  while (body.length && body[body.length - 1] === '') body.pop();
  if (!body.length) return [];
  const safe = body.map((l) => l.replace(/\*\//g, '*\\/'));
  if (safe.length === 1 && !safe[0]!.startsWith('@')) return [`${indent}/** ${safe[0]} */`];
  return [`${indent}/**`, ...safe.map((l) => (l ? `${indent} * ${l}` : `${indent} *`)), `${indent} */`];
}
