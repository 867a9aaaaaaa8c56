/**
 * Checks each top-level expression against the grammar of its definition kind and turns it
 * into a typed definition (QEMU scripts/qapi/expr.py). Type references are not resolved
 * here; see schema.ts.
 */
import type { QapiDoc } from './doc.ts';
import type { QEntry, QObject, QValue } from './json.ts';
import { kindName } from './json.ts';
import type { ParsedSchema, Pragma } from './parser.ts';
import { QapiError, type SourceInfo } from './source.ts';

/** `if` condition (QMP-NOTES §9 "Conditions and features"). */
export type Condition =
  | string
  | { readonly all: readonly Condition[] }
  | { readonly any: readonly Condition[] }
  | { readonly not: Condition };

export interface FeatureDef {
  readonly name: string;
  readonly if?: Condition;
  readonly info: SourceInfo;
}

/** A reference to a type by name; `array` for the one-element-list form `['Name']`. */
export interface TypeRefDef {
  readonly name: string;
  readonly array: boolean;
  readonly info: SourceInfo;
}

export interface MemberDef {
  /** Wire name (without the `*`). */
  readonly name: string;
  readonly optional: boolean;
  readonly type: TypeRefDef;
  readonly if?: Condition;
  readonly features: readonly FeatureDef[];
  readonly info: SourceInfo;
}

export interface EnumValueDef {
  readonly name: string;
  readonly if?: Condition;
  readonly features: readonly FeatureDef[];
  readonly info: SourceInfo;
}

export interface BranchDef {
  readonly name: string;
  readonly type: TypeRefDef;
  readonly if?: Condition;
  readonly info: SourceInfo;
}

interface DefCommon {
  readonly name: string;
  readonly if?: Condition;
  readonly features: readonly FeatureDef[];
  readonly doc?: QapiDoc;
  /** Position of the definition expression. */
  readonly info: SourceInfo;
}

export interface EnumDef extends DefCommon {
  readonly meta: 'enum';
  readonly values: readonly EnumValueDef[];
  readonly prefix?: string;
}

export interface StructDef extends DefCommon {
  readonly meta: 'struct';
  readonly base?: TypeRefDef;
  readonly members: readonly MemberDef[];
}

export interface UnionDef extends DefCommon {
  readonly meta: 'union';
  /** A named struct, or inline members. */
  readonly base: TypeRefDef | readonly MemberDef[];
  readonly discriminator: string;
  readonly discriminatorInfo: SourceInfo;
  readonly branches: readonly BranchDef[];
}

export interface AlternateDef extends DefCommon {
  readonly meta: 'alternate';
  readonly branches: readonly BranchDef[];
}

export interface CommandDef extends DefCommon {
  readonly meta: 'command';
  /** Inline members, or a named type (a struct, or with `boxed` any object type). */
  readonly data?: TypeRefDef | readonly MemberDef[];
  readonly boxed: boolean;
  readonly returns?: TypeRefDef;
  readonly successResponse: boolean;
  readonly gen: boolean;
  readonly allowOob: boolean;
  readonly allowPreconfig: boolean;
  readonly coroutine: boolean;
}

export interface EventDef extends DefCommon {
  readonly meta: 'event';
  readonly data?: TypeRefDef | readonly MemberDef[];
  readonly boxed: boolean;
}

export type Definition = EnumDef | StructDef | UnionDef | AlternateDef | CommandDef | EventDef;
export type DefinitionMeta = Definition['meta'];

const META_KEYS: Record<DefinitionMeta, { required: string[]; optional: string[] }> = {
  enum: { required: ['enum', 'data'], optional: ['prefix', 'if', 'features'] },
  struct: { required: ['struct', 'data'], optional: ['base', 'if', 'features'] },
  union: { required: ['union', 'base', 'discriminator', 'data'], optional: ['if', 'features'] },
  alternate: { required: ['alternate', 'data'], optional: ['if', 'features'] },
  command: {
    required: ['command'],
    optional: [
      'data', 'returns', 'boxed', 'if', 'features', 'gen', 'success-response', 'allow-oob',
      'allow-preconfig', 'coroutine',
    ],
  },
  event: { required: ['event'], optional: ['data', 'boxed', 'if', 'features'] },
};

const METAS = Object.keys(META_KEYS) as DefinitionMeta[];

/** Check every expression of a parsed schema. Throws {@link QapiError} on the first fault. */
export function checkExprs(parsed: ParsedSchema): Definition[] {
  return parsed.exprs.map(({ expr, doc }) => checkExpr(expr, doc, parsed.pragma));
}

function sem(info: SourceInfo, message: string): QapiError {
  return new QapiError('QAPI_SEMANTIC', info, message);
}

export function checkExpr(expr: QObject, doc: QapiDoc | undefined, pragma: Pragma): Definition {
  const metas = METAS.filter((m) => expr.entries.has(m));
  if (metas.length === 0) {
    throw sem(expr.info, `expression is missing a definition keyword (one of ${METAS.map((m) => `'${m}'`).join(', ')})`);
  }
  if (metas.length > 1) {
    const second = expr.entries.get(metas[1]!)!;
    throw sem(second.keyInfo, `expression has both '${metas[0]}' and '${metas[1]}'`);
  }
  const meta = metas[0]!;
  const nameEntry = expr.entries.get(meta)!;
  const name = str(nameEntry.value, `'${meta}'`);
  const what = `${meta} '${name}'`;
  checkKeys(expr, what, META_KEYS[meta]);
  checkDefName(meta, name, nameEntry.value.info, pragma);
  if (doc && doc.symbol !== name) {
    throw new QapiError('QAPI_DOC', doc.info, `documentation comment is for '${doc.symbol}', but the definition is ${what}`);
  }
  if (!doc && pragma.docRequired) {
    throw new QapiError('QAPI_DOC', expr.info, `documentation comment required for ${what}`);
  }
  const common = {
    name,
    features: features(expr.entries.get('features'), what),
    info: expr.info,
    ...optCond(expr.entries.get('if')),
    ...(doc ? { doc } : {}),
  };
  const e = (key: string): QEntry | undefined => expr.entries.get(key);
  switch (meta) {
    case 'enum': {
      const prefix = e('prefix');
      return {
        meta,
        ...common,
        values: enumValues(e('data')!, what, name, pragma),
        ...(prefix ? { prefix: str(prefix.value, `'prefix' of ${what}`) } : {}),
      };
    }
    case 'struct': {
      const base = e('base');
      return {
        meta,
        ...common,
        members: members(e('data')!.value, what, name, pragma),
        ...(base ? { base: typeRef(base.value, `'base' of ${what}`, false) } : {}),
      };
    }
    case 'union': {
      const base = e('base')!.value;
      const disc = e('discriminator')!.value;
      return {
        meta,
        ...common,
        base: base.kind === 'object' ? members(base, `'base' of ${what}`, name, pragma) : typeRef(base, `'base' of ${what}`, false),
        discriminator: str(disc, `'discriminator' of ${what}`),
        discriminatorInfo: disc.info,
        branches: branches(e('data')!.value, what, 'union'),
      };
    }
    case 'alternate': {
      const br = branches(e('data')!.value, what, 'alternate');
      if (br.length === 0) throw sem(e('data')!.value.info, `${what} has no branches`);
      return { meta, ...common, branches: br };
    }
    case 'command': {
      const boxed = bool(e('boxed'), false);
      const data = commandData(e('data'), boxed, what, name, pragma, expr.info);
      const returns = e('returns');
      const c: CommandDef = {
        meta,
        ...common,
        boxed,
        successResponse: bool(e('success-response'), true),
        gen: bool(e('gen'), true),
        allowOob: bool(e('allow-oob'), false),
        allowPreconfig: bool(e('allow-preconfig'), false),
        coroutine: bool(e('coroutine'), false),
        ...(data ? { data } : {}),
        ...(returns ? { returns: typeRef(returns.value, `'returns' of ${what}`, true) } : {}),
      };
      if (c.coroutine && c.allowOob) {
        throw sem(e('coroutine')!.keyInfo, `${what}: 'coroutine': true is incompatible with 'allow-oob': true`);
      }
      return c;
    }
    case 'event': {
      const boxed = bool(e('boxed'), false);
      const data = commandData(e('data'), boxed, what, name, pragma, expr.info);
      return { meta, ...common, boxed, ...(data ? { data } : {}) };
    }
  }
}

function checkKeys(expr: QObject, what: string, keys: { required: string[]; optional: string[] }): void {
  const missing = keys.required.filter((k) => !expr.entries.has(k));
  if (missing.length) {
    throw sem(expr.info, `${what} misses key${missing.length > 1 ? 's' : ''} ${missing.map((k) => `'${k}'`).join(', ')}`);
  }
  for (const entry of expr.entries.values()) {
    if (!keys.required.includes(entry.key) && !keys.optional.includes(entry.key)) {
      throw sem(entry.keyInfo, `${what} has unknown key '${entry.key}'`);
    }
  }
}

function str(v: QValue, what: string): string {
  if (v.kind !== 'string') throw sem(v.info, `${what} must be a string, not ${kindName(v)}`);
  return v.value;
}

function bool(entry: QEntry | undefined, dflt: boolean): boolean {
  if (!entry) return dflt;
  const v = entry.value;
  if (v.kind !== 'bool') throw sem(v.info, `'${entry.key}' must be true or false, not ${kindName(v)}`);
  if (entry.key === 'boxed' || entry.key === 'allow-oob' || entry.key === 'allow-preconfig' || entry.key === 'coroutine') {
    if (!v.value) throw sem(v.info, `flag '${entry.key}' may only use true`);
  } else if (v.value) {
    throw sem(v.info, `flag '${entry.key}' may only use false`);
  }
  return v.value;
}

// Names: QMP-NOTES §9 "Naming". Enum values may start with a digit.
const NAME_RE = /^(__[a-zA-Z0-9.-]+_)?([a-zA-Z][a-zA-Z0-9_-]*)$/;
const VALUE_RE = /^(__[a-zA-Z0-9.-]+_)?([a-zA-Z0-9][a-zA-Z0-9_-]*)$/;

function checkName(name: string, info: SourceInfo, what: string, re = NAME_RE, member = false): string {
  const m = re.exec(name);
  if (!m) throw sem(info, `${what} has an invalid name '${name}'`);
  // 'q_' is reserved everywhere; 'has-'/'has_' and 'u' collide with generated C in objects.
  if (/^q_/i.test(m[2]!) || (member && (/^has[-_]/i.test(m[2]!) || m[2] === 'u'))) {
    throw sem(info, `${what} uses reserved name '${name}'`);
  }
  return m[2]!;
}

function checkDefName(meta: DefinitionMeta, name: string, info: SourceInfo, pragma: Pragma): void {
  const stem = checkName(name, info, `${meta} name`);
  if (meta === 'event') {
    if (stem.toUpperCase() !== stem) throw sem(info, `name of event '${name}' must use only upper case`);
  } else if (meta === 'command') {
    if (stem.toLowerCase() !== stem) throw sem(info, `name of command '${name}' must use only lower case`);
    if (stem.includes('_') && !pragma.commandNameExceptions.includes(name)) {
      throw sem(info, `name of command '${name}' must not use '_'`);
    }
  } else {
    if (name.endsWith('List')) throw sem(info, `${meta} name '${name}' must not end with 'List'`);
    if (!/^[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$/.test(stem)) throw sem(info, `name of ${meta} '${name}' must use CamelCase`);
  }
}

function checkMemberName(name: string, info: SourceInfo, what: string, owner: string, pragma: Pragma, re = NAME_RE): void {
  const stem = checkName(name, info, what, re, re === NAME_RE);
  if (stem.toLowerCase() !== stem && !pragma.memberNameExceptions.includes(owner)) {
    throw sem(info, `${what} '${name}' must not use upper case`);
  }
}

export function condition(v: QValue): Condition {
  if (v.kind === 'string') {
    if (!/^\S+$/.test(v.value)) throw sem(v.info, `'if' condition '${v.value}' makes no sense`);
    return v.value;
  }
  if (v.kind !== 'object') throw sem(v.info, `'if' condition must be a string or an object, not ${kindName(v)}`);
  if (v.entries.size !== 1) throw sem(v.info, "'if' condition object must have exactly one key: 'all', 'any' or 'not'");
  const [entry] = v.entries.values();
  const { key, value } = entry!;
  if (key === 'not') return { not: condition(value) };
  if (key !== 'all' && key !== 'any') throw sem(entry!.keyInfo, `'if' condition has unknown operator '${key}'`);
  if (value.kind !== 'array') throw sem(value.info, `'if' condition '${key}' needs a list of conditions, not ${kindName(value)}`);
  if (value.items.length === 0) throw sem(value.info, `'if' condition '${key}' has an empty list`);
  const items = value.items.map(condition);
  return key === 'all' ? { all: items } : { any: items };
}

function optCond(entry: QEntry | undefined): { if?: Condition } {
  return entry ? { if: condition(entry.value) } : {};
}

function features(entry: QEntry | undefined, what: string): FeatureDef[] {
  if (!entry) return [];
  const v = entry.value;
  if (v.kind !== 'array') throw sem(v.info, `'features' of ${what} must be an array, not ${kindName(v)}`);
  const seen = new Set<string>();
  return v.items.map((item) => {
    let f: FeatureDef;
    if (item.kind === 'string') {
      f = { name: item.value, info: item.info };
    } else if (item.kind === 'object') {
      checkKeys(item, `feature of ${what}`, { required: ['name'], optional: ['if'] });
      f = { name: str(item.entries.get('name')!.value, `'name' of a feature of ${what}`), info: item.info, ...optCond(item.entries.get('if')) };
    } else {
      throw sem(item.info, `feature of ${what} must be a string or an object, not ${kindName(item)}`);
    }
    checkName(f.name, f.info, `feature of ${what}`);
    if (seen.has(f.name)) throw sem(f.info, `${what} has feature '${f.name}' twice`);
    seen.add(f.name);
    return f;
  });
}

function typeRef(v: QValue, what: string, allowArray: boolean): TypeRefDef {
  if (v.kind === 'string') return { name: v.value, array: false, info: v.info };
  if (v.kind === 'array' && allowArray) {
    if (v.items.length !== 1) throw sem(v.info, `${what}: an array type must contain exactly one type name`);
    const item = v.items[0]!;
    if (item.kind !== 'string') throw sem(item.info, `${what}: an array type must contain a type name, not ${kindName(item)}`);
    return { name: item.value, array: true, info: v.info };
  }
  throw sem(v.info, `${what} must name a type${allowArray ? " ('Name' or ['Name'])" : " ('Name')"}, not ${kindName(v)}`);
}

function members(v: QValue, what: string, owner: string, pragma: Pragma): MemberDef[] {
  if (v.kind !== 'object') throw sem(v.info, `members of ${what} must be an object, not ${kindName(v)}`);
  const seen = new Set<string>();
  return [...v.entries.values()].map(({ key, keyInfo, value }) => {
    const optional = key.startsWith('*');
    const name = optional ? key.slice(1) : key;
    const mwhat = `member '${name}' of ${what}`;
    checkMemberName(name, keyInfo, `member of ${what}`, owner, pragma);
    if (seen.has(name)) throw sem(keyInfo, `${what} has member '${name}' twice`);
    seen.add(name);
    if (value.kind === 'object') {
      checkKeys(value, mwhat, { required: ['type'], optional: ['if', 'features'] });
      return {
        name,
        optional,
        type: typeRef(value.entries.get('type')!.value, mwhat, true),
        features: features(value.entries.get('features'), mwhat),
        info: keyInfo,
        ...optCond(value.entries.get('if')),
      };
    }
    return { name, optional, type: typeRef(value, mwhat, true), features: [], info: keyInfo };
  });
}

function enumValues(entry: QEntry, what: string, owner: string, pragma: Pragma): EnumValueDef[] {
  const v = entry.value;
  if (v.kind !== 'array') throw sem(v.info, `'data' of ${what} must be an array, not ${kindName(v)}`);
  const seen = new Set<string>();
  return v.items.map((item) => {
    let value: EnumValueDef;
    if (item.kind === 'string') {
      value = { name: item.value, features: [], info: item.info };
    } else if (item.kind === 'object') {
      checkKeys(item, `value of ${what}`, { required: ['name'], optional: ['if', 'features'] });
      const vname = str(item.entries.get('name')!.value, `'name' of a value of ${what}`);
      value = {
        name: vname,
        features: features(item.entries.get('features'), `value '${vname}' of ${what}`),
        info: item.info,
        ...optCond(item.entries.get('if')),
      };
    } else {
      throw sem(item.info, `value of ${what} must be a string or an object, not ${kindName(item)}`);
    }
    checkMemberName(value.name, value.info, `value of ${what}`, owner, pragma, VALUE_RE);
    if (seen.has(value.name)) throw sem(value.info, `${what} has value '${value.name}' twice`);
    seen.add(value.name);
    return value;
  });
}

function branches(v: QValue, what: string, kind: 'union' | 'alternate'): BranchDef[] {
  if (v.kind !== 'object') throw sem(v.info, `'data' of ${what} must be an object, not ${kindName(v)}`);
  return [...v.entries.values()].map(({ key, keyInfo, value }) => {
    const bwhat = `branch '${key}' of ${what}`;
    checkName(key, keyInfo, `branch of ${what}`, VALUE_RE);
    if (value.kind === 'object') {
      checkKeys(value, bwhat, { required: ['type'], optional: ['if'] });
      return {
        name: key,
        type: typeRef(value.entries.get('type')!.value, bwhat, kind === 'alternate'),
        info: keyInfo,
        ...optCond(value.entries.get('if')),
      };
    }
    return { name: key, type: typeRef(value, bwhat, kind === 'alternate'), info: keyInfo };
  });
}

function commandData(
  entry: QEntry | undefined,
  boxed: boolean,
  what: string,
  owner: string,
  pragma: Pragma,
  exprInfo: SourceInfo,
): TypeRefDef | MemberDef[] | undefined {
  if (!entry) {
    if (boxed) throw sem(exprInfo, `${what}: 'boxed': true requires 'data'`);
    return undefined;
  }
  const v = entry.value;
  if (boxed) {
    if (v.kind !== 'string') throw sem(v.info, `${what}: 'data' must name a type when 'boxed': true, not ${kindName(v)}`);
    return typeRef(v, `'data' of ${what}`, false);
  }
  if (v.kind === 'string') return typeRef(v, `'data' of ${what}`, false);
  return members(v, `'data' of ${what}`, owner, pragma);
}
