/**
 * User and group names, resolved when the configuration is loaded (start and SIGHUP), through NSS
 * (`getent`, so LDAP/sssd users work too) and, where getent is missing, /etc/passwd and /etc/group.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface UserEntry {
  name: string;
  uid: number;
  gid: number;
}

export interface GroupEntry {
  name: string;
  gid: number;
  /** Names listed as members in the group database (not those whose primary group it is). */
  members: string[];
}

/** One `getent DB KEY` line, or undefined when the key is unknown; null when getent is unavailable. */
function getent(db: 'passwd' | 'group', key: string): string | undefined | null {
  try {
    return execFileSync('getent', [db, key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0];
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { status?: number };
    if (err.code === 'ENOENT') return null;
    if (err.status === 2) return undefined; // "key not found"
    throw new Error(`getent ${db} ${key} failed: ${err.message}`);
  }
}

function fromFile(file: string, key: string): string | undefined {
  const byNumber = /^\d+$/.test(key);
  return readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => {
      const f = l.split(':');
      return byNumber ? f[2] === key : f[0] === key;
    });
}

export function lookupUser(nameOrUid: string): UserEntry | undefined {
  let line = getent('passwd', nameOrUid);
  if (line === null) line = fromFile('/etc/passwd', nameOrUid);
  if (!line) return undefined;
  const f = line.split(':');
  return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) };
}

export function lookupGroup(nameOrGid: string): GroupEntry | undefined {
  let line = getent('group', nameOrGid);
  if (line === null) line = fromFile('/etc/group', nameOrGid);
  if (!line) return undefined;
  const f = line.split(':');
  return { name: f[0]!, gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) };
}
