/**
 * Command rules: globs and the built-in profiles. A principal's decision for a command is, in order:
 * `deny` (any glob matches: refused), `allow` (any glob matches: permitted), its profile (permitted
 * when listed), otherwise refused. `qmp_capabilities` is always permitted: after negotiation it only
 * earns QEMU's "already complete" error, and refusing it would change that text for nothing.
 */
import { COMMAND_PREFIX } from '@qmpmux/core';

export type ProfileName = 'read-only' | 'vm-control' | 'full';
export const PROFILE_NAMES: readonly ProfileName[] = ['read-only', 'vm-control', 'full'];

/**
 * read-only: what reads state and changes nothing. Not in it, on purpose: `qom-get` (a `secret`
 * object's `data` property is readable through it), `ringbuf-read` (it consumes the ring buffer),
 * `human-monitor-command` (HMP runs anything), `screendump`/`dump-guest-memory`/`memsave` (they write
 * host files).
 */
const READ_ONLY = [
  'qmp_capabilities',
  'query-*',
  'x-query-*',
  'x-debug-query-*',
  'qom-list',
  'qom-list-types',
  'qom-list-properties',
  'device-list-properties',
  'trace-event-get-state',
  `${COMMAND_PREFIX}query-*`,
];

/**
 * vm-control: read-only, plus running, pausing, resetting and powering the guest and sending it input.
 * Not `quit` (it ends QEMU, and with it every client's session) nor anything that changes the VM's
 * configuration or touches host files.
 */
const VM_CONTROL = [...READ_ONLY, 'stop', 'cont', 'system_reset', 'system_powerdown', 'system_wakeup', 'inject-nmi', 'send-key', 'input-send-event'];

export const PROFILES: Readonly<Record<ProfileName, readonly string[]>> = {
  'read-only': READ_ONLY,
  'vm-control': VM_CONTROL,
  full: ['*'],
};

/** A glob over command names: `*` any run of characters, `?` one character, nothing else special. */
export interface Glob {
  text: string;
  re: RegExp;
}

export function glob(text: string): Glob {
  const body = text.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return { text, re: new RegExp(`^${body}$`) };
}

export interface CommandRules {
  profile: ProfileName | undefined;
  allow: readonly Glob[];
  deny: readonly Glob[];
}

export type Decision = { permitted: boolean; why: string };

const profileGlobs = Object.fromEntries(PROFILE_NAMES.map((p) => [p, PROFILES[p].map(glob)])) as Record<ProfileName, Glob[]>;

export function decide(rules: CommandRules, command: string): Decision {
  if (command === 'qmp_capabilities') return { permitted: true, why: 'qmp_capabilities is always permitted' };
  const denied = rules.deny.find((g) => g.re.test(command));
  if (denied) return { permitted: false, why: `deny '${denied.text}'` };
  const allowed = rules.allow.find((g) => g.re.test(command));
  if (allowed) return { permitted: true, why: `allow '${allowed.text}'` };
  if (rules.profile && profileGlobs[rules.profile].some((g) => g.re.test(command))) return { permitted: true, why: `profile '${rules.profile}'` };
  return { permitted: false, why: rules.profile ? `not in profile '${rules.profile}' nor allowed` : 'not allowed' };
}
