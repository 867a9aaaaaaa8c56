/**
 * Redaction of QMP arguments before they are recorded, by JSON paths over the arguments object:
 *   `$.data`, `$.a.b` (members), `$.a[*]` / `$.a.*` (every element or member), `$.a[0]` (an element),
 *   `$..password` (a member of that name at any depth). The leading `$` is optional.
 * A rule applies to one command (or `*`), optionally only when top-level members equal given values.
 */
import type { JsonPlain } from '@qmpmux/core';

export type PathStep = { key: string } | { any: true } | { index: number } | { deep: string };

export interface RedactRule {
  command: string;
  when?: Record<string, JsonPlain>;
  paths: string[];
}

export const REDACTED = '<redacted>';

/** The secrets QEMU's QMP takes in clear. */
export const DEFAULT_REDACTIONS: readonly RedactRule[] = [
  { command: 'object-add', when: { 'qom-type': 'secret' }, paths: ['$.data'] },
  { command: 'change-vnc-password', paths: ['$.password'] },
  { command: 'set_password', paths: ['$.password'] },
  { command: '*', paths: ['$..password'] },
];

/** Parse a path; throws Error naming the problem. */
export function parsePath(path: string): PathStep[] {
  let s = path.startsWith('$') ? path.slice(1) : path;
  const steps: PathStep[] = [];
  if (!s.length) throw new Error('empty path');
  if (!s.startsWith('.') && !s.startsWith('[')) s = '.' + s;
  const re = /^(?:\.\.([^.[\]]+)|\.\*|\.([^.[\]]+)|\[\*\]|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\])/;
  while (s.length) {
    const m = re.exec(s);
    if (!m) throw new Error(`cannot parse '${s}' in path '${path}'`);
    if (m[1] !== undefined) steps.push({ deep: m[1] });
    else if (m[2] !== undefined) steps.push({ key: m[2] });
    else if (m[3] !== undefined) steps.push({ index: Number(m[3]) });
    else if (m[4] !== undefined) steps.push({ key: JSON.parse(m[4]) as string });
    else steps.push({ any: true });
    s = s.slice(m[0].length);
  }
  return steps;
}

export interface CompiledRedaction {
  command: string;
  when?: Record<string, JsonPlain>;
  paths: PathStep[][];
}

export function compileRedactions(rules: readonly RedactRule[]): CompiledRedaction[] {
  return rules.map((r) => ({ command: r.command, when: r.when, paths: r.paths.map(parsePath) }));
}

/** A deep copy of `args` with the matching values replaced; `redacted` tells whether any was. */
export function redactArguments(command: string, args: Record<string, JsonPlain>, rules: readonly CompiledRedaction[]): { args: Record<string, JsonPlain>; redacted: boolean } {
  let out: JsonPlain = args;
  let redacted = false;
  for (const r of rules) {
    if (r.command !== '*' && r.command !== command) continue;
    if (r.when && !Object.entries(r.when).every(([k, v]) => args[k] === v)) continue;
    for (const p of r.paths) {
      const res = apply(out, p, 0);
      if (res.changed) {
        out = res.value;
        redacted = true;
      }
    }
  }
  return { args: out as Record<string, JsonPlain>, redacted };
}

type Obj = { [k: string]: JsonPlain };

function apply(v: JsonPlain, path: PathStep[], i: number): { value: JsonPlain; changed: boolean } {
  if (i === path.length) return v === REDACTED ? { value: v, changed: false } : { value: REDACTED, changed: true };
  const step = path[i]!;
  if ('deep' in step) return deep(v, step.deep, path, i);
  if (Array.isArray(v)) {
    if ('key' in step) return { value: v, changed: false };
    let changed = false;
    const copy = v.map((x, idx) => {
      if ('index' in step && step.index !== idx) return x;
      const r = apply(x, path, i + 1);
      changed ||= r.changed;
      return r.value;
    });
    return changed ? { value: copy, changed } : { value: v, changed: false };
  }
  if (v === null || typeof v !== 'object') return { value: v, changed: false };
  const o = v as Obj;
  if ('index' in step) return { value: v, changed: false };
  let changed = false;
  const copy: Obj = { ...o };
  for (const k of 'key' in step ? [step.key] : Object.keys(o)) {
    if (!Object.prototype.hasOwnProperty.call(o, k)) continue;
    const r = apply(o[k]!, path, i + 1);
    if (r.changed) {
      copy[k] = r.value;
      changed = true;
    }
  }
  return changed ? { value: copy, changed } : { value: v, changed: false };
}

/** `..name`: the member `name` of this value or of anything below it, then the rest of the path. */
function deep(v: JsonPlain, name: string, path: PathStep[], i: number): { value: JsonPlain; changed: boolean } {
  if (v === null || typeof v !== 'object') return { value: v, changed: false };
  let changed = false;
  if (Array.isArray(v)) {
    const copy = v.map((x) => {
      const r = deep(x, name, path, i);
      changed ||= r.changed;
      return r.value;
    });
    return changed ? { value: copy, changed } : { value: v, changed: false };
  }
  const o = v as Obj;
  const copy: Obj = { ...o };
  for (const k of Object.keys(o)) {
    const r = k === name ? apply(o[k]!, path, i + 1) : deep(o[k]!, name, path, i);
    if (r.changed) {
      copy[k] = r.value;
      changed = true;
    }
  }
  return changed ? { value: copy, changed } : { value: v, changed: false };
}
