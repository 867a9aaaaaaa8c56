/**
 * Argument checks for event-replay's commands, with QEMU's own error texts and check order (QMP-NOTES
 * §3, step 7): declared members first, in declaration order, then the first undeclared key in QDict
 * order is "unexpected".
 */
import { qdictOrder } from '@qmpmux/protocol';
import type { JsonPlain } from '@qmpmux/core';

export type ArgType = 'int' | 'number' | 'str-list';
export type ArgValue = number | string[];

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Check `args` against `spec` (all members optional); a QEMU-style error text, or the values. */
export function checkArgs(args: Record<string, JsonPlain> | undefined, spec: Readonly<Record<string, ArgType>>): { error: string } | { values: Record<string, ArgValue> } {
  const values: Record<string, ArgValue> = {};
  const a = args ?? {};
  for (const [name, type] of Object.entries(spec)) {
    if (!Object.hasOwn(a, name)) continue;
    const v = a[name]!;
    switch (type) {
      case 'int':
        if (typeof v === 'number' && Number.isInteger(v)) values[name] = v;
        else if (typeof v === 'bigint' && v >= INT64_MIN && v <= INT64_MAX) values[name] = Number(v);
        else return { error: `Invalid parameter type for '${name}', expected: integer` };
        break;
      case 'number':
        if (typeof v === 'number' || typeof v === 'bigint') values[name] = Number(v);
        else return { error: `Invalid parameter type for '${name}', expected: number` };
        break;
      case 'str-list': {
        if (!Array.isArray(v)) return { error: `Invalid parameter type for '${name}', expected: array` };
        const list: string[] = [];
        for (const [i, x] of v.entries()) {
          if (typeof x !== 'string') return { error: `Invalid parameter type for '${name}[${i}]', expected: string` };
          list.push(x);
        }
        values[name] = list;
        break;
      }
    }
  }
  const extra = qdictOrder(Object.keys(a)).find((k) => !Object.hasOwn(spec, k));
  if (extra !== undefined) return { error: `Parameter '${extra}' is unexpected` };
  return { values };
}
