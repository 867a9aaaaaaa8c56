/**
 * Resolver: turns checked definitions into a model in which every type reference is
 * resolved, object members are flattened (base members first), unions carry their
 * branches, arrays and builtins are types of their own, and inline member lists have become
 * implicit object types (QEMU scripts/qapi/schema.py).
 */
import type { QapiDoc } from './doc.ts';
import {
  checkExprs,
  type AlternateDef,
  type CommandDef,
  type Condition,
  type Definition,
  type EventDef,
  type FeatureDef,
  type MemberDef,
  type StructDef,
  type TypeRefDef,
  type UnionDef,
} from './expr.ts';
import { parseSchemaFile, type ParsedSchema, type ParseOptions, type Pragma } from './parser.ts';
import { QapiError, type SourceInfo } from './source.ts';

export type { Condition } from './expr.ts';

/** JSON type of a builtin, as `query-qmp-schema` reports it. */
export type JsonType = 'string' | 'number' | 'int' | 'boolean' | 'null' | 'value';

export interface Feature {
  readonly name: string;
  readonly if?: Condition;
}

interface TypeCommon {
  readonly name: string;
  /** Undefined for builtins. */
  readonly info?: SourceInfo;
  readonly if?: Condition;
  readonly features: readonly Feature[];
  readonly doc?: QapiDoc;
}

export interface BuiltinType extends TypeCommon {
  readonly kind: 'builtin';
  readonly jsonType: JsonType;
  /** Integers: bit width (64 for `int` and `size`). */
  readonly bits?: 8 | 16 | 32 | 64;
  readonly signed?: boolean;
}

export interface EnumValue {
  readonly name: string;
  readonly if?: Condition;
  readonly features: readonly Feature[];
  readonly doc?: string;
}

export interface EnumType extends TypeCommon {
  readonly kind: 'enum';
  readonly values: readonly EnumValue[];
  readonly prefix?: string;
  /** True for the builtin enum `QType`. */
  readonly builtin: boolean;
}

export interface Member {
  /** Wire name. */
  readonly name: string;
  readonly optional: boolean;
  /** Name of the member's type in {@link Model.types}. */
  readonly type: string;
  readonly if?: Condition;
  readonly features: readonly Feature[];
  /** The member description from the doc comment of the type that declares it. */
  readonly doc?: string;
  /** The type that declares the member (for base members: the base). */
  readonly owner: string;
  readonly info: SourceInfo;
}

export interface Variant {
  /** Discriminator value. */
  readonly name: string;
  /** The branch struct; undefined for a value without a branch (no extra members). */
  readonly type?: string;
  readonly if?: Condition;
}

export interface ObjectType extends TypeCommon {
  readonly kind: 'object';
  /** `implicit`: made from an inline member list (command/event arguments, union base). */
  readonly meta: 'struct' | 'union' | 'implicit';
  readonly base?: string;
  /** Members declared by this type itself. */
  readonly localMembers: readonly Member[];
  /** All members on the wire: the base's first, then the local ones. */
  readonly members: readonly Member[];
  /** For unions: the discriminator member and one variant per enum value, in enum order. */
  readonly variants?: { readonly tag: string; readonly tagType: string; readonly cases: readonly Variant[] };
}

export interface AlternateBranch {
  readonly name: string;
  readonly type: string;
  readonly if?: Condition;
  readonly doc?: string;
}

export interface AlternateType extends TypeCommon {
  readonly kind: 'alternate';
  readonly branches: readonly AlternateBranch[];
}

export interface ArrayType extends TypeCommon {
  readonly kind: 'array';
  readonly element: string;
}

export type ModelType = BuiltinType | EnumType | ObjectType | AlternateType | ArrayType;

export interface Command {
  readonly name: string;
  /** The arguments' object type (implicit for inline data); undefined without arguments. */
  readonly argType?: string;
  readonly boxed: boolean;
  /** Undefined when the command returns `{}`. */
  readonly retType?: string;
  readonly successResponse: boolean;
  readonly gen: boolean;
  readonly allowOob: boolean;
  readonly allowPreconfig: boolean;
  readonly coroutine: boolean;
  readonly if?: Condition;
  readonly features: readonly Feature[];
  readonly doc?: QapiDoc;
  readonly info: SourceInfo;
}

export interface Event {
  readonly name: string;
  readonly argType?: string;
  readonly boxed: boolean;
  readonly if?: Condition;
  readonly features: readonly Feature[];
  readonly doc?: QapiDoc;
  readonly info: SourceInfo;
}

/** A definition in source order, or a free-form doc comment (a section heading or prose). */
export type OutlineItem =
  | { readonly kind: 'type'; readonly name: string }
  | { readonly kind: 'command'; readonly name: string }
  | { readonly kind: 'event'; readonly name: string }
  | { readonly kind: 'doc'; readonly doc: QapiDoc };

export interface Model {
  /** Builtins first, then definitions and implicit types in source order, arrays as first used. */
  readonly types: ReadonlyMap<string, ModelType>;
  readonly commands: ReadonlyMap<string, Command>;
  readonly events: ReadonlyMap<string, Event>;
  readonly outline: readonly OutlineItem[];
  readonly pragma: Pragma;
  readonly definitions: readonly Definition[];
}

const INT_BUILTINS: [string, 8 | 16 | 32 | 64, boolean][] = [
  ['int', 64, true], ['int8', 8, true], ['int16', 16, true], ['int32', 32, true], ['int64', 64, true],
  ['uint8', 8, false], ['uint16', 16, false], ['uint32', 32, false], ['uint64', 64, false], ['size', 64, false],
];

/** The builtin types, `QType` included. */
export function builtinTypes(): ModelType[] {
  const out: ModelType[] = [
    { kind: 'builtin', name: 'str', jsonType: 'string', features: [] },
    { kind: 'builtin', name: 'number', jsonType: 'number', features: [] },
    ...INT_BUILTINS.map(([name, bits, signed]): BuiltinType => ({ kind: 'builtin', name, jsonType: 'int', bits, signed, features: [] })),
    { kind: 'builtin', name: 'bool', jsonType: 'boolean', features: [] },
    { kind: 'builtin', name: 'null', jsonType: 'null', features: [] },
    { kind: 'builtin', name: 'any', jsonType: 'value', features: [] },
    {
      kind: 'enum',
      name: 'QType',
      builtin: true,
      prefix: 'QTYPE',
      features: [],
      values: ['none', 'qnull', 'qnum', 'qstring', 'qdict', 'qlist', 'qbool'].map((name) => ({ name, features: [] })),
    },
  ];
  return out;
}

export interface ResolveOptions {
  /**
   * Pragma entries added to the schema's own, for a file checked without the tree that
   * normally supplies them (misc.json alone lacks pragma.json's exceptions).
   */
  extraPragma?: Partial<Pragma>;
}

/** Parse, check and resolve a schema file. Throws {@link QapiError}. */
export function loadSchema(path: string, options: ParseOptions & ResolveOptions = {}): Model {
  return resolveSchema(parseSchemaFile(path, options), options);
}

/** Check and resolve a parsed schema. Throws {@link QapiError}. */
export function resolveSchema(parsed: ParsedSchema, options: ResolveOptions = {}): Model {
  const extra = options.extraPragma;
  if (extra) {
    const p = parsed.pragma;
    const pragma: Pragma = {
      docRequired: extra.docRequired ?? p.docRequired,
      commandNameExceptions: [...p.commandNameExceptions, ...(extra.commandNameExceptions ?? [])],
      commandReturnsExceptions: [...p.commandReturnsExceptions, ...(extra.commandReturnsExceptions ?? [])],
      documentationExceptions: [...p.documentationExceptions, ...(extra.documentationExceptions ?? [])],
      memberNameExceptions: [...p.memberNameExceptions, ...(extra.memberNameExceptions ?? [])],
    };
    parsed = { ...parsed, pragma };
  }
  return new Resolver(parsed).run();
}

function sem(info: SourceInfo, message: string): QapiError {
  return new QapiError('QAPI_SEMANTIC', info, message);
}

/** QEMU's c_name collapse, used to detect member names that clash in generated C. */
function cName(name: string): string {
  return name.replace(/[-.]/g, '_').toLowerCase();
}

function feats(defs: readonly FeatureDef[]): Feature[] {
  return defs.map((f) => (f.if !== undefined ? { name: f.name, if: f.if } : { name: f.name }));
}

function withIf<T extends object>(obj: T, cond: Condition | undefined): T & { if?: Condition } {
  return cond !== undefined ? { ...obj, if: cond } : obj;
}

function withDoc<T extends object>(obj: T, doc: string | undefined): T & { doc?: string } {
  return doc !== undefined ? { ...obj, doc } : obj;
}

class Resolver {
  private readonly types = new Map<string, ModelType>();
  private readonly commands = new Map<string, Command>();
  private readonly events = new Map<string, Event>();
  /** First definition of every name (types, commands and events share one namespace). */
  private readonly defined = new Map<string, Definition>();
  private readonly defs: Definition[];
  /** Local members of objects, before flattening. */
  private readonly pending = new Map<string, { base?: TypeRefDef; local: Member[]; def: Definition }>();

  constructor(private readonly parsed: ParsedSchema) {
    this.defs = checkExprs(parsed);
  }

  run(): Model {
    for (const t of builtinTypes()) this.types.set(t.name, t);
    for (const def of this.defs) {
      const prior = this.defined.get(def.name) ?? (this.types.has(def.name) ? 'builtin' : undefined);
      if (prior) {
        const where = prior === 'builtin' ? 'a builtin type' : `${prior.meta} '${prior.name}' at ${prior.info.file}:${prior.info.line}:${prior.info.col}`;
        throw sem(def.info, `'${def.name}' is already defined (as ${where})`);
      }
      this.defined.set(def.name, def);
    }
    const outline: OutlineItem[] = [];
    const freeDocs = [...this.parsed.freeDocs];
    this.defs.forEach((def, index) => {
      while (freeDocs.length && freeDocs[0]!.beforeExpr <= index) outline.push({ kind: 'doc', doc: freeDocs.shift()!.doc });
      this.define(def);
      outline.push({ kind: def.meta === 'command' || def.meta === 'event' ? def.meta : 'type', name: def.name });
    });
    for (const rest of freeDocs) outline.push({ kind: 'doc', doc: rest.doc });
    for (const name of this.pending.keys()) this.flatten(name, []);
    for (const def of this.defs) this.checkDefinition(def);
    for (const def of this.defs) this.checkDoc(def);
    return {
      types: this.types,
      commands: this.commands,
      events: this.events,
      outline,
      pragma: this.parsed.pragma,
      definitions: this.defs,
    };
  }

  // ---- pass 1: build types with resolved references -------------------------------------

  private define(def: Definition): void {
    const common = {
      name: def.name,
      info: def.info,
      features: feats(def.features),
      ...(def.if !== undefined ? { if: def.if } : {}),
      ...(def.doc ? { doc: def.doc } : {}),
    };
    switch (def.meta) {
      case 'enum':
        this.types.set(def.name, {
          kind: 'enum',
          ...common,
          builtin: false,
          values: def.values.map((v) =>
            withDoc(withIf({ name: v.name, features: feats(v.features) }, v.if), def.doc?.members.get(v.name)),
          ),
          ...(def.prefix !== undefined ? { prefix: def.prefix } : {}),
        });
        return;
      case 'struct':
        this.addObject(def, common, 'struct', def.members, def.base);
        return;
      case 'union': {
        let base: TypeRefDef;
        if (Array.isArray(def.base)) {
          const name = `q_obj_${def.name}-base`;
          this.addObject(def, { name, info: def.info, features: [], ...(def.if !== undefined ? { if: def.if } : {}) }, 'implicit', def.base, undefined, def.doc);
          base = { name, array: false, info: def.info };
        } else {
          base = def.base as TypeRefDef;
        }
        this.addObject(def, common, 'union', [], base);
        return;
      }
      case 'alternate':
        this.types.set(def.name, {
          kind: 'alternate',
          ...common,
          branches: def.branches.map((b) =>
            withDoc(withIf({ name: b.name, type: this.ref(b.type, `branch '${b.name}' of alternate '${def.name}'`) }, b.if), def.doc?.members.get(b.name)),
          ),
        });
        return;
      case 'command': {
        const argType = this.args(def, 'arg');
        const ret = def.returns ? this.ref(def.returns, `'returns' of command '${def.name}'`) : undefined;
        this.commands.set(def.name, {
          ...common,
          boxed: def.boxed,
          successResponse: def.successResponse,
          gen: def.gen,
          allowOob: def.allowOob,
          allowPreconfig: def.allowPreconfig,
          coroutine: def.coroutine,
          ...(argType !== undefined ? { argType } : {}),
          ...(ret !== undefined ? { retType: ret } : {}),
        });
        return;
      }
      case 'event': {
        const argType = this.args(def, 'arg');
        this.events.set(def.name, { ...common, boxed: def.boxed, ...(argType !== undefined ? { argType } : {}) });
        return;
      }
    }
  }

  /** The argument type of a command or event: a named type, or an implicit one for inline data. */
  private args(def: CommandDef | EventDef, suffix: string): string | undefined {
    if (!def.data) return undefined;
    if (!Array.isArray(def.data)) return this.ref(def.data as TypeRefDef, `'data' of ${def.meta} '${def.name}'`);
    const members = def.data as readonly MemberDef[];
    if (members.length === 0) return undefined;
    const name = `q_obj_${def.name}-${suffix}`;
    this.addObject(def, { name, info: def.info, features: [], ...(def.if !== undefined ? { if: def.if } : {}) }, 'implicit', members, undefined, def.doc);
    return name;
  }

  private addObject(
    def: Definition,
    common: TypeCommon,
    meta: ObjectType['meta'],
    members: readonly MemberDef[],
    base: TypeRefDef | undefined,
    doc: QapiDoc | undefined = def.doc,
  ): void {
    const local = members.map((m) =>
      withDoc(
        withIf(
          {
            name: m.name,
            optional: m.optional,
            type: this.ref(m.type, `member '${m.name}' of ${def.meta} '${def.name}'`),
            features: feats(m.features),
            owner: common.name,
            info: m.info,
          },
          m.if,
        ),
        doc?.members.get(m.name),
      ),
    );
    this.pending.set(common.name, { local, def, ...(base ? { base } : {}) });
    // Placeholder; completed by flatten().
    this.types.set(common.name, { kind: 'object', ...common, meta, localMembers: local, members: local });
  }

  /** Resolve a type reference, creating the array type for `['Name']`. */
  private ref(ref: TypeRefDef, what: string): string {
    const target = this.defined.get(ref.name);
    if (target ? target.meta === 'command' || target.meta === 'event' : !this.types.has(ref.name)) {
      if (target) throw sem(ref.info, `${what} uses ${target.meta} '${ref.name}' as a type`);
      throw sem(ref.info, `${what} uses unknown type '${ref.name}'`);
    }
    if (!ref.array) return ref.name;
    const name = `${ref.name}List`;
    if (!this.types.has(name)) {
      const elem = this.defined.get(ref.name);
      this.types.set(name, {
        kind: 'array',
        name,
        element: ref.name,
        features: [],
        ...(elem?.if !== undefined ? { if: elem.if } : {}),
      });
    }
    return name;
  }

  // ---- pass 2: flatten base members ------------------------------------------------------

  private flatten(name: string, stack: string[]): ObjectType {
    const t = this.types.get(name) as ObjectType;
    const p = this.pending.get(name);
    if (!p) return t;
    if (stack.includes(name)) {
      throw sem(t.info!, `object '${name}' contains itself through its base (${[...stack, name].join(' -> ')})`);
    }
    let members: Member[] = [...p.local];
    let baseName: string | undefined;
    if (p.base) {
      baseName = this.ref(p.base, `'base' of ${p.def.meta} '${p.def.name}'`);
      const baseType = this.types.get(baseName)!;
      if (baseType.kind !== 'object' || baseType.meta === 'union') {
        throw sem(p.base.info, `'base' of ${p.def.meta} '${p.def.name}' must be a struct type, but '${baseName}' is ${describeType(baseType)}`);
      }
      const flatBase = this.flatten(baseName, [...stack, name]);
      const seen = new Map(flatBase.members.map((m) => [cName(m.name), m]));
      for (const m of members) {
        const clash = seen.get(cName(m.name));
        if (clash) {
          throw sem(m.info, `member '${m.name}' of '${name}' collides with member '${clash.name}' of base '${clash.owner}'`);
        }
      }
      members = [...flatBase.members, ...members];
    }
    const done: ObjectType = { ...t, members, ...(baseName && t.meta !== 'implicit' ? { base: baseName } : {}) };
    this.types.set(name, done);
    this.pending.delete(name);
    return done;
  }

  // ---- pass 3: rules that need the whole model -----------------------------------------

  private checkDefinition(def: Definition): void {
    switch (def.meta) {
      case 'union': this.checkUnion(def); return;
      case 'alternate': this.checkAlternate(def); return;
      case 'command': this.checkCommand(def); return;
      case 'event': this.checkEvent(def); return;
      case 'struct': this.checkMembers(def, def.members); return;
      case 'enum': return;
    }
  }

  private checkMembers(def: StructDef | UnionDef | CommandDef | EventDef, members: readonly MemberDef[]): void {
    for (const m of members) {
      const t = this.types.get(this.typeName(m.type))!;
      if (t.kind === 'array') {
        const elem = this.types.get(t.element)!;
        if (elem.kind === 'array') throw sem(m.type.info, `member '${m.name}' of ${def.meta} '${def.name}' cannot be an array of arrays`);
      }
    }
  }

  private typeName(ref: TypeRefDef): string {
    return ref.array ? `${ref.name}List` : ref.name;
  }

  private checkUnion(def: UnionDef): void {
    const union = this.types.get(def.name) as ObjectType;
    if (Array.isArray(def.base)) this.checkMembers(def, def.base as readonly MemberDef[]);
    const tag = union.members.find((m) => m.name === def.discriminator);
    if (!tag) {
      throw sem(def.discriminatorInfo, `discriminator '${def.discriminator}' of union '${def.name}' is not a member of its base`);
    }
    if (tag.optional) throw sem(def.discriminatorInfo, `discriminator member '${tag.name}' of union '${def.name}' must not be optional`);
    const tagType = this.types.get(tag.type)!;
    if (tagType.kind !== 'enum') {
      throw sem(def.discriminatorInfo, `discriminator member '${tag.name}' of union '${def.name}' must be of enum type, not '${tag.type}'`);
    }
    if (tag.if !== undefined) throw sem(def.discriminatorInfo, `discriminator member '${tag.name}' of union '${def.name}' must not be conditional`);
    const byName = new Map(def.branches.map((b) => [b.name, b]));
    for (const b of def.branches) {
      if (!tagType.values.some((v) => v.name === b.name)) {
        throw sem(b.info, `branch '${b.name}' of union '${def.name}' is not a value of enum '${tagType.name}'`);
      }
      const bt = this.types.get(b.type.name)!;
      if (bt.kind !== 'object' || bt.meta !== 'struct') {
        throw sem(b.type.info, `branch '${b.name}' of union '${def.name}' must be a struct type, but '${b.type.name}' is ${describeType(bt)}`);
      }
      const baseNames = new Map(union.members.map((m) => [cName(m.name), m]));
      for (const m of bt.members) {
        const clash = baseNames.get(cName(m.name));
        if (clash) {
          throw sem(b.info, `member '${m.name}' of branch '${b.name}' of union '${def.name}' collides with base member '${clash.name}'`);
        }
      }
    }
    const cases: Variant[] = tagType.values.map((v) => {
      const b = byName.get(v.name);
      const cond = b?.if ?? v.if;
      return withIf(b ? { name: v.name, type: b.type.name } : { name: v.name }, cond);
    });
    this.types.set(def.name, { ...union, variants: { tag: tag.name, tagType: tagType.name, cases } });
  }

  private checkAlternate(def: AlternateDef): void {
    const seen = new Map<string, string>();
    for (const b of def.branches) {
      const t = this.types.get(this.typeName(b.type))!;
      if (t.kind === 'object' && t.meta === 'implicit') throw sem(b.type.info, `branch '${b.name}' of alternate '${def.name}' cannot use an implicit type`);
      if (t.kind === 'alternate') throw sem(b.type.info, `branch '${b.name}' of alternate '${def.name}' cannot use alternate '${t.name}'`);
      const kinds = jsonKinds(t);
      for (const k of kinds) {
        const other = seen.get(k);
        if (other !== undefined) {
          throw sem(b.info, `branch '${b.name}' of alternate '${def.name}' can't be distinguished from '${other}' (both accept JSON ${k})`);
        }
      }
      for (const k of kinds) seen.set(k, b.name);
    }
  }

  private checkCommand(def: CommandDef): void {
    const cmd = this.commands.get(def.name)!;
    if (Array.isArray(def.data)) this.checkMembers(def, def.data as readonly MemberDef[]);
    else if (def.data) this.checkNamedData(def, def.data as TypeRefDef);
    if (def.returns && cmd.retType) {
      const ret = this.types.get(cmd.retType)!;
      const elem = ret.kind === 'array' ? this.types.get(ret.element)! : ret;
      if (elem.kind !== 'object' && !this.parsed.pragma.commandReturnsExceptions.includes(def.name)) {
        throw sem(def.returns.info, `command '${def.name}' cannot return '${cmd.retType}': 'returns' must be an object type or an array of one (or the command must be listed in pragma 'command-returns-exceptions')`);
      }
    }
  }

  private checkEvent(def: EventDef): void {
    if (Array.isArray(def.data)) this.checkMembers(def, def.data as readonly MemberDef[]);
    else if (def.data) this.checkNamedData(def, def.data as TypeRefDef);
  }

  private checkNamedData(def: CommandDef | EventDef, ref: TypeRefDef): void {
    const t = this.types.get(ref.name)!;
    if (t.kind !== 'object') {
      throw sem(ref.info, `'data' of ${def.meta} '${def.name}' must be an object type, but '${ref.name}' is ${describeType(t)}`);
    }
    if (t.variants && !def.boxed) {
      throw sem(ref.info, `'data' of ${def.meta} '${def.name}' can use union type '${ref.name}' only with 'boxed': true`);
    }
  }

  /** Documented members and features must exist (QEMU `QAPIDoc.check`). */
  private checkDoc(def: Definition): void {
    const doc = def.doc;
    if (!doc) return;
    const names = new Set<string>();
    const featureNames = new Set<string>(def.features.map((f) => f.name));
    const addMembers = (ms: readonly MemberDef[]): void => {
      for (const m of ms) {
        names.add(m.name);
        for (const f of m.features) featureNames.add(f.name);
      }
    };
    switch (def.meta) {
      case 'enum':
        for (const v of def.values) {
          names.add(v.name);
          for (const f of v.features) featureNames.add(f.name);
        }
        break;
      case 'struct': addMembers(def.members); break;
      case 'union':
        if (Array.isArray(def.base)) addMembers(def.base as readonly MemberDef[]);
        break;
      case 'alternate': for (const b of def.branches) names.add(b.name); break;
      case 'command': case 'event':
        if (Array.isArray(def.data)) addMembers(def.data as readonly MemberDef[]);
        break;
    }
    for (const s of doc.sections) {
      if (s.kind === 'member' && !names.has(s.name)) {
        throw new QapiError('QAPI_DOC', s.info, `documented member '${s.name}' does not exist in ${def.meta} '${def.name}'`);
      }
      if (s.kind === 'feature' && !featureNames.has(s.name)) {
        throw new QapiError('QAPI_DOC', s.info, `documented feature '${s.name}' does not exist in ${def.meta} '${def.name}'`);
      }
    }
  }
}

function describeType(t: ModelType): string {
  switch (t.kind) {
    case 'builtin': return 'a builtin type';
    case 'enum': return 'an enum';
    case 'alternate': return 'an alternate';
    case 'array': return 'an array';
    case 'object': return t.meta === 'union' || t.variants ? 'a union' : t.meta === 'implicit' ? 'an implicit object' : 'a struct';
  }
}

/** JSON kinds a type accepts, to tell alternate branches apart. */
function jsonKinds(t: ModelType): string[] {
  switch (t.kind) {
    case 'builtin':
      if (t.jsonType === 'int' || t.jsonType === 'number') return ['number'];
      if (t.jsonType === 'value') return ['string', 'number', 'boolean', 'null', 'object', 'array'];
      return [t.jsonType];
    case 'enum': return ['string'];
    case 'object': return ['object'];
    case 'array': return ['array'];
    case 'alternate': return [];
  }
}
