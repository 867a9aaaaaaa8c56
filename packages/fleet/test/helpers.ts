/** Shared pieces of the fleet tests: settings, VM entries, a log that keeps its lines. */
import { createLogger, parseVmEntry, type Logger, type PluginEntry } from '@qmpmux/core';
import { clientsPlugin } from '@qmpmux/plugin-clients';
import { policyPlugin } from '@qmpmux/plugin-policy';
import { specOf, type FleetSettings, type VmOrigin, type VmSpec } from '../src/index.ts';

export const AVAILABLE = [policyPlugin, clientsPlugin];

export function settings(over: Partial<FleetSettings> = {}): FleetSettings {
  return { plugins: [{ name: 'clients', options: {} }], pluginsPath: 'config.plugins', limits: {}, allowUnauthenticated: false, available: AVAILABLE, ...over };
}

/** A VM entry as the config has it, resolved (`config.vms[i]`). */
export function vm(i: number, name: string, upstream: string, listen: string[], extra: { plugins?: PluginEntry[]; limits?: Record<string, number> } = {}, origin: VmOrigin = 'config', s = settings()): VmSpec {
  return specOf(parseVmEntry({ name, upstream, listen, ...extra }, `config.vms[${i}]`), origin, s);
}

/** A logger whose lines are kept (and printed at QMPMUX_TEST_LOG's level). */
export function keptLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const echo = createLogger('t', (process.env.QMPMUX_TEST_LOG as never) ?? 'silent');
  const log = createLogger('qmpmux', 'debug', (level, tag, msg, fields) => {
    lines.push(`${level} [${tag}] ${msg}${fields ? ' ' + JSON.stringify(fields) : ''}`);
    echo[level === 'silent' ? 'debug' : level](`[${tag}] ${msg}`, fields);
  });
  return { log, lines };
}

/** Poll `pred` every 20 ms for up to `ms`. */
export async function eventually(pred: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
