/**
 * Compare a model with what a QEMU binary reports through `query-qmp-schema` (QMP-NOTES §8).
 *
 * Introspection masks type names (`"227"`, `"[232]"`, `"0"` for the empty object), so types
 * are matched structurally, starting from each command's `arg-type`/`ret-type` and each
 * event's `arg-type`: objects by member names, optionality (optional iff `default` is
 * present), member types, tag and variants; enums by values; arrays by element; alternates
 * by branch types; builtins by JSON type (all integer widths are `int`).
 *
 * What the binary has must be in the model. What the model has and the binary lacks is
 * fine only when it is conditional (`if`), e.g. target-specific definitions.
 */
import type { Condition, Model, ModelType } from './schema.ts';

/** One entry of `query-qmp-schema` (qapi/introspect.json `SchemaInfo`). */
export interface SchemaInfo {
  readonly name: string;
  readonly 'meta-type': 'builtin' | 'enum' | 'array' | 'object' | 'alternate' | 'command' | 'event';
  readonly features?: readonly string[];
  readonly 'arg-type'?: string;
  readonly 'ret-type'?: string;
  readonly 'allow-oob'?: boolean;
  readonly 'json-type'?: string;
  readonly 'element-type'?: string;
  readonly members?: readonly { readonly name?: string; readonly type?: string; readonly default?: null; readonly features?: readonly string[] }[];
  readonly values?: readonly string[];
  readonly tag?: string;
  readonly variants?: readonly { readonly case: string; readonly type: string }[];
}

export interface Mismatch {
  /** Where: `command add-fd / arg-type / member 'fdset-id'`. */
  readonly path: string;
  readonly message: string;
}

export interface IntrospectionReport {
  /** Commands and events the binary reports, each compared with the model. */
  readonly commandsChecked: number;
  readonly eventsChecked: number;
  /** Distinct (binary type, model type) pairs compared. */
  readonly typesCompared: number;
  /** Conditional model definitions the binary does not have (fine). */
  readonly absent: { readonly commands: readonly string[]; readonly events: readonly string[] };
  readonly mismatches: readonly Mismatch[];
}

const EMPTY = '(no arguments)';

export function compareWithIntrospection(model: Model, schema: readonly SchemaInfo[]): IntrospectionReport {
  return new Comparer(model, schema).run();
}

class Comparer {
  private readonly byName: Map<string, SchemaInfo>;
  private readonly mismatches: Mismatch[] = [];
  private readonly compared = new Set<string>();

  constructor(
    private readonly model: Model,
    private readonly schema: readonly SchemaInfo[],
  ) {
    this.byName = new Map(schema.map((e) => [e.name, e]));
  }

  run(): IntrospectionReport {
    let commandsChecked = 0;
    let eventsChecked = 0;
    for (const e of this.schema) {
      if (e['meta-type'] === 'command') {
        commandsChecked++;
        const path = `command ${e.name}`;
        const c = this.model.commands.get(e.name);
        if (!c) {
          this.fail(path, 'the binary has this command, the model does not');
          continue;
        }
        this.features(path, e.features, c.features);
        if (Boolean(e['allow-oob']) !== c.allowOob) this.fail(path, `allow-oob is ${Boolean(e['allow-oob'])} in the binary, ${c.allowOob} in the model`);
        this.type(`${path} / arg-type`, e['arg-type'], c.argType);
        this.type(`${path} / ret-type`, e['ret-type'], c.retType);
      } else if (e['meta-type'] === 'event') {
        eventsChecked++;
        const path = `event ${e.name}`;
        const ev = this.model.events.get(e.name);
        if (!ev) {
          this.fail(path, 'the binary has this event, the model does not');
          continue;
        }
        this.features(path, e.features, ev.features);
        this.type(`${path} / arg-type`, e['arg-type'], ev.argType);
      }
    }
    const absent = { commands: [] as string[], events: [] as string[] };
    for (const [name, c] of this.model.commands) {
      if (this.byName.get(name)?.['meta-type'] === 'command') continue;
      if (c.if === undefined) this.fail(`command ${name}`, 'unconditional in the model, but the binary does not have it');
      else absent.commands.push(name);
    }
    for (const [name, ev] of this.model.events) {
      if (this.byName.get(name)?.['meta-type'] === 'event') continue;
      if (ev.if === undefined) this.fail(`event ${name}`, 'unconditional in the model, but the binary does not have it');
      else absent.events.push(name);
    }
    return { commandsChecked, eventsChecked, typesCompared: this.compared.size, absent, mismatches: this.mismatches };
  }

  private fail(path: string, message: string): void {
    this.mismatches.push({ path, message });
  }

  private features(path: string, binary: readonly string[] | undefined, model: readonly { name: string }[]): void {
    for (const f of binary ?? []) {
      if (!model.some((m) => m.name === f)) this.fail(path, `the binary has feature '${f}', the model does not`);
    }
  }

  /**
   * Compare binary type `iname` with model type `mname` (undefined: a command without
   * arguments or without `returns`, i.e. the empty object).
   */
  private type(path: string, iname: string | undefined, mname: string | undefined): void {
    if (iname === undefined) {
      this.fail(path, 'missing in the binary');
      return;
    }
    const key = `${iname}\u0000${mname ?? EMPTY}`;
    if (this.compared.has(key)) return;
    this.compared.add(key);
    const i = this.byName.get(iname);
    if (!i) {
      this.fail(path, `the binary refers to type '${iname}' but does not describe it`);
      return;
    }
    if (mname === undefined) {
      if (i['meta-type'] !== 'object' || (i.members?.length ?? 0) > 0 || i.variants?.length) {
        this.fail(path, `the model has nothing here, the binary has ${describe(i)}`);
      }
      return;
    }
    const m = this.model.types.get(mname);
    if (!m) {
      this.fail(path, `the model refers to unknown type '${mname}'`);
      return;
    }
    switch (i['meta-type']) {
      case 'builtin': return this.builtin(path, i, m);
      case 'enum': return this.enumType(path, i, m);
      case 'array':
        if (m.kind !== 'array') return this.fail(path, `the binary has an array, the model ${m.kind} '${m.name}'`);
        return this.type(`${path} / element`, i['element-type'], m.element);
      case 'object': return this.object(path, i, m);
      case 'alternate': return this.alternate(path, i, m);
      default:
        this.fail(path, `the binary uses ${i['meta-type']} '${i.name}' as a type`);
    }
  }

  private builtin(path: string, i: SchemaInfo, m: ModelType): void {
    if (m.kind !== 'builtin') {
      this.fail(path, `the binary has builtin '${i.name}', the model ${m.kind} '${m.name}'`);
    } else if (m.jsonType !== i['json-type']) {
      this.fail(path, `the binary has JSON type '${i['json-type']}', the model '${m.jsonType}' (${m.name})`);
    }
  }

  private enumType(path: string, i: SchemaInfo, m: ModelType): void {
    if (m.kind !== 'enum') return this.fail(path, `the binary has an enum, the model ${m.kind} '${m.name}'`);
    const binary = i.members?.map((v) => v.name ?? '') ?? i.values ?? [];
    for (const v of binary) {
      if (!m.values.some((mv) => mv.name === v)) this.fail(`${path} (enum ${m.name})`, `the binary has value '${v}', the model does not`);
    }
    for (const v of i.members ?? []) {
      const mv = m.values.find((x) => x.name === v.name);
      if (mv) this.features(`${path} (enum ${m.name}) / value '${v.name}'`, v.features, mv.features);
    }
    for (const mv of m.values) {
      if (!binary.includes(mv.name) && !conditional(mv.if, m.if)) {
        this.fail(`${path} (enum ${m.name})`, `value '${mv.name}' is unconditional in the model, but the binary lacks it`);
      }
    }
  }

  private object(path: string, i: SchemaInfo, m: ModelType): void {
    if (m.kind !== 'object') return this.fail(path, `the binary has an object, the model ${m.kind} '${m.name}'`);
    const where = `${path} (${m.name})`;
    const members = i.members ?? [];
    for (const im of members) {
      const name = im.name ?? '';
      const mm = m.members.find((x) => x.name === name);
      if (!mm) {
        this.fail(where, `the binary has member '${name}', the model does not`);
        continue;
      }
      const optional = 'default' in im;
      if (optional !== mm.optional) {
        this.fail(`${where} / member '${name}'`, `optional in the ${optional ? 'binary' : 'model'} only`);
      }
      this.features(`${where} / member '${name}'`, im.features, mm.features);
      this.type(`${where} / member '${name}'`, im.type, mm.type);
    }
    for (const mm of m.members) {
      if (!members.some((x) => x.name === mm.name) && !conditional(mm.if)) {
        this.fail(where, `member '${mm.name}' is unconditional in the model, but the binary lacks it`);
      }
    }
    const v = m.variants;
    if (!i.tag) {
      if (v) this.fail(where, `the model has a union on '${v.tag}', the binary a plain object`);
      return;
    }
    if (!v) return this.fail(where, `the binary has a union on '${i.tag}', the model a plain object`);
    if (v.tag !== i.tag) this.fail(where, `the binary's tag is '${i.tag}', the model's '${v.tag}'`);
    const variants = i.variants ?? [];
    for (const iv of variants) {
      const mv = v.cases.find((c) => c.name === iv.case);
      if (!mv) {
        this.fail(where, `the binary has branch '${iv.case}', the model does not`);
        continue;
      }
      this.type(`${where} / branch '${iv.case}'`, iv.type, mv.type);
    }
    for (const mv of v.cases) {
      if (mv.type !== undefined && !variants.some((x) => x.case === mv.name) && !conditional(mv.if)) {
        this.fail(where, `branch '${mv.name}' is unconditional in the model, but the binary lacks it`);
      }
    }
  }

  private alternate(path: string, i: SchemaInfo, m: ModelType): void {
    if (m.kind !== 'alternate') return this.fail(path, `the binary has an alternate, the model ${m.kind} '${m.name}'`);
    const where = `${path} (${m.name})`;
    const unmatched = [...m.branches];
    for (const ib of i.members ?? []) {
      // Find the model branch that matches structurally, without recording trial failures.
      const idx = unmatched.findIndex((b) => this.matches(`${where} / branch`, ib.type, b.type));
      if (idx < 0) {
        this.fail(where, `no model branch matches the binary's branch type '${ib.type}' (${describe(this.byName.get(ib.type ?? ''))})`);
        continue;
      }
      const [b] = unmatched.splice(idx, 1);
      this.type(`${where} / branch '${b!.name}'`, ib.type, b!.type);
    }
    for (const b of unmatched) {
      if (!conditional(b.if)) this.fail(where, `branch '${b.name}' is unconditional in the model, but the binary lacks it`);
    }
  }

  /** Would comparing these two record no mismatch? (Shallow and side-effect free.) */
  private matches(path: string, iname: string | undefined, mname: string): boolean {
    const i = this.byName.get(iname ?? '');
    const m = this.model.types.get(mname);
    if (!i || !m) return false;
    switch (i['meta-type']) {
      case 'builtin': return m.kind === 'builtin' && m.jsonType === i['json-type'];
      case 'enum': return m.kind === 'enum';
      case 'array': return m.kind === 'array';
      case 'object': return m.kind === 'object';
      case 'alternate': return m.kind === 'alternate';
      default: return path === '';
    }
  }
}

function conditional(...conds: (Condition | undefined)[]): boolean {
  return conds.some((c) => c !== undefined);
}

function describe(i: SchemaInfo | undefined): string {
  if (!i) return 'nothing';
  if (i['meta-type'] === 'object') return `an object with members ${(i.members ?? []).map((m) => m.name).join(', ') || '(none)'}`;
  return `${i['meta-type']} '${i.name}'`;
}
