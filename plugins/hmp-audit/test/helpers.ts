/** Shared bits of the hmp-audit plugin's tests. */
import { NO_OBSERVER, type Observer } from '@qmpmux/core';

export { readRecords as records } from '@qmpmux/audit-log';

/** An Observer that keeps plugins' counters (PluginContext.metrics): `counts['name{k=v}']`. */
export function countingObserver(): { observer: Observer; counts: Record<string, number> } {
  const counts: Record<string, number> = {};
  const observer: Observer = {
    ...NO_OBSERVER,
    counter: (name) => ({
      inc: (labels = {}, value = 1) => {
        const key = `${name}{${Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',')}}`;
        counts[key] = (counts[key] ?? 0) + value;
      },
    }),
  };
  return { observer, counts };
}
