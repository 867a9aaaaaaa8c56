/**
 * qmpmux's own commands (`__org.qmpmux_…`): how a plugin declares one, and how the core checks its
 * arguments before the plugin's `run` sees them.
 *
 * A declaration is QAPI-like: `data` lists the arguments in QAPI's own notation (see OwnType), and the
 * core checks a command's arguments against it the way QEMU's QObject input visitor checks its own
 * commands, with QEMU's texts and check order (QMP-NOTES §3, step 7): declared members in declaration
 * order (missing, wrong type), nested members and list elements named by path (`a.b`, `names[0]`),
 * then the first undeclared key in QDict order is "unexpected". `run` gets the checked values, typed
 * from `data` (ArgsOf).
 */
import { qdictOrder, type JsonPlain } from '@qmpmux/protocol';
import { refuse, type Refusal } from './errors.ts';
import type { CommandContext } from './hook-context.ts';

/** QAPI builtin type names a declaration may use (integer widths and `size` are all `int` in introspection). */
export type OwnBuiltinType =
  | 'str'
  | 'int'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'size'
  | 'number'
  | 'bool'
  | 'null'
  | 'any';

/**
 * A type in QAPI's own notation: a builtin name, `[T]` for an array of T, or an object written as its
 * members (a `*` before a name makes the member optional), e.g.
 * `[{ id: 'int', transport: 'str', '*principal': 'str' }]`.
 */
export type OwnType = OwnBuiltinType | readonly [OwnType] | OwnMembers;
export type OwnMembers = { readonly [member: string]: OwnType };

type IntegerType = 'int' | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'size';

/** The JS value `run` receives for a member of type T (integers as numbers). */
export type ValueOf<T> = T extends IntegerType
  ? number
  : T extends 'number'
    ? number
    : T extends 'str'
      ? string
      : T extends 'bool'
        ? boolean
        : T extends 'null'
          ? null
          : T extends 'any'
            ? JsonPlain
            : T extends readonly [infer E]
              ? ValueOf<E>[]
              : T extends OwnMembers
                ? ArgsOf<T>
                : never;

type Optional<K> = K extends `*${infer N}` ? N : never;
type Required<K> = K extends `*${string}` ? never : K;

/** The arguments object `run` receives for `data` D: `*name` members optional. */
export type ArgsOf<D extends OwnMembers | undefined> = D extends OwnMembers
  ? { -readonly [K in keyof D as Required<K & string>]: ValueOf<D[K]> } & { -readonly [K in keyof D as Optional<K & string>]?: ValueOf<D[K]> }
  : Record<string, never>;

/** What a command's `run` answers: its return value, or a refusal (refuse(code, …)). */
export type OwnAnswer = { action: 'reply'; return: JsonPlain } | Refusal;

/** One of qmpmux's own commands: its QAPI-like types (for `query-qmp-schema`) and how it runs. */
export interface OwnCommand<D extends OwnMembers | undefined = OwnMembers | undefined> {
  /** The full name (`${ctx.commandPrefix}…`, i.e. `__org.qmpmux_…`). */
  readonly name: string;
  /** Its arguments, as QAPI `data`: members of an object. Absent: the command takes none. */
  readonly data?: D;
  /** What it returns, as QAPI `returns`. Absent: an empty object (`{}`), as a QEMU command without `returns`. */
  readonly returns?: OwnType;
  /** May be sent with exec-oob. */
  readonly allowOob?: boolean;
  /** QAPI features (e.g. `unstable`). */
  readonly features?: readonly string[];
  /**
   * Answer the command. Runs at the declaring plugin's place in the onCommand chain, after that
   * plugin's own onCommand hook (plugins up to and including it may refuse or rewrite first; plugins
   * after it never see the command; its reply passes back through the ones before it), and only after
   * the arguments passed the check against `data`.
   */
  run(args: ArgsOf<D>, cmd: CommandContext): Promise<OwnAnswer>;
}

/** What introspection needs of a declaration: everything but `run`. */
export type OwnCommandInfo = Omit<OwnCommand, 'run'>;

/** Declare an own command with `run`'s arguments typed from `data` (an identity function for inference). */
export function ownCommand<const D extends OwnMembers | undefined = undefined>(c: OwnCommand<D>): OwnCommand {
  return c as unknown as OwnCommand;
}

/** The answer `run` gives for a return value. */
export function answer(value: JsonPlain): OwnAnswer {
  return { action: 'reply', return: value };
}

const INT_RANGE: Record<IntegerType, [bigint, bigint, string]> = {
  int: [-(2n ** 63n), 2n ** 63n - 1n, 'int64_t'],
  int64: [-(2n ** 63n), 2n ** 63n - 1n, 'int64_t'],
  int8: [-128n, 127n, 'int8_t'],
  int16: [-32768n, 32767n, 'int16_t'],
  int32: [-(2n ** 31n), 2n ** 31n - 1n, 'int32_t'],
  uint8: [0n, 255n, 'uint8_t'],
  uint16: [0n, 65535n, 'uint16_t'],
  uint32: [0n, 2n ** 32n - 1n, 'uint32_t'],
  uint64: [0n, 2n ** 64n - 1n, 'uint64'],
  size: [0n, 2n ** 64n - 1n, 'uint64'],
};

class ArgError extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.desc);
  }
}

const isObject = (v: JsonPlain | undefined): v is { [k: string]: JsonPlain } => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkValue(t: OwnType, v: JsonPlain, path: string): JsonPlain {
  if (typeof t === 'string') {
    switch (t) {
      case 'any':
        return v;
      case 'str':
        if (typeof v !== 'string') throw new ArgError(refuse('ARG_TYPE', path, 'string'));
        return v;
      case 'bool':
        if (typeof v !== 'boolean') throw new ArgError(refuse('ARG_TYPE', path, 'boolean'));
        return v;
      case 'null':
        if (v !== null) throw new ArgError(refuse('ARG_TYPE', path, 'null'));
        return v;
      case 'number':
        if (typeof v === 'number') return v;
        if (typeof v === 'bigint') return Number(v);
        throw new ArgError(refuse('ARG_TYPE', path, 'number'));
      default: {
        // QEMU's visitor: a signed member takes an int64; an unsigned one a uint64 or (for backward
        // compatibility) a negative int64, wrapped; narrower widths are range-checked after that.
        const [min, max, ctype] = INT_RANGE[t];
        const unsigned = min === 0n;
        let big = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : undefined;
        if (big === undefined || big < INT_RANGE.int[0] || big > (unsigned ? INT_RANGE.uint64[1] : INT_RANGE.int[1])) {
          if (unsigned && typeof v === 'number') throw new ArgError(refuse('ARG_EXPECTS', path, 'uint64'));
          throw new ArgError(refuse('ARG_TYPE', path, 'integer'));
        }
        if (unsigned && big < 0n) big += 2n ** 64n;
        if (big < min || big > max) throw new ArgError(refuse('ARG_EXPECTS', path, ctype));
        return Number(big);
      }
    }
  }
  if (Array.isArray(t)) {
    if (!Array.isArray(v)) throw new ArgError(refuse('ARG_TYPE', path, 'array'));
    return v.map((x, i) => checkValue(t[0] as OwnType, x, `${path}[${i}]`));
  }
  if (!isObject(v)) throw new ArgError(refuse('ARG_TYPE', path, 'object'));
  return checkMembers(t as OwnMembers, v, `${path}.`);
}

function checkMembers(members: OwnMembers, o: { [k: string]: JsonPlain }, prefix: string): { [k: string]: JsonPlain } {
  const out: { [k: string]: JsonPlain } = {};
  const declared = new Set<string>();
  for (const [key, t] of Object.entries(members)) {
    const optional = key.startsWith('*');
    const name = optional ? key.slice(1) : key;
    declared.add(name);
    if (!Object.hasOwn(o, name)) {
      if (optional) continue;
      throw new ArgError(refuse('ARG_MISSING', prefix + name));
    }
    out[name] = checkValue(t, o[name]!, prefix + name);
  }
  const extra = qdictOrder(Object.keys(o)).find((k) => !declared.has(k));
  if (extra !== undefined) throw new ArgError(refuse('ARG_UNEXPECTED', prefix + extra));
  return out;
}

/** Check a command's arguments against its `data`: the values for `run`, or QEMU's refusal. */
export function checkArguments(data: OwnMembers | undefined, args: Record<string, JsonPlain> | undefined): { ok: true; values: Record<string, JsonPlain> } | { ok: false; refusal: Refusal } {
  try {
    return { ok: true, values: checkMembers(data ?? {}, args ?? {}, '') };
  } catch (e) {
    if (e instanceof ArgError) return { ok: false, refusal: e.refusal };
    throw e;
  }
}
