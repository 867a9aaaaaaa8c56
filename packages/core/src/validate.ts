/** Small validators for config files and plugin options; each failure names the path of the bad field. */
import { ConfigError } from './config-error.ts';

export type Obj = Record<string, unknown>;

export function object(v: unknown, path: string, allowed?: readonly string[]): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(path, 'expected an object');
  if (allowed) for (const k of Object.keys(v)) if (!allowed.includes(k)) throw new ConfigError(`${path}.${k}`, `unknown field (expected one of: ${allowed.join(', ')})`);
  return v as Obj;
}

export function string(v: unknown, path: string): string {
  if (typeof v !== 'string' || v === '') throw new ConfigError(path, 'expected a non-empty string');
  return v;
}

export function optString(v: unknown, path: string): string | undefined {
  return v === undefined ? undefined : string(v, path);
}

export function bool(v: unknown, path: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new ConfigError(path, 'expected true or false');
  return v;
}

export function int(v: unknown, path: string, dflt: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ConfigError(path, `expected an integer from ${min} to ${max}`);
  return v;
}

export function array<T>(v: unknown, path: string, item: (x: unknown, p: string) => T): T[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new ConfigError(path, 'expected an array');
  return v.map((x, i) => item(x, `${path}[${i}]`));
}

export function oneOf<T extends string>(v: unknown, path: string, values: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !values.includes(v as T)) throw new ConfigError(path, `expected one of: ${values.join(', ')}`);
  return v as T;
}
