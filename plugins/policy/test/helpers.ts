/** Test helpers: throw-away system users and groups (QMP clients running as them: line-qmp.ts). */
import { execFileSync } from 'node:child_process';

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
}

/** Creates users and groups (needs root); `remove()` deletes them all. Names carry the pid. */
export class TestAccounts {
  readonly users: TestUser[] = [];
  readonly groups: string[] = [];
  private readonly suffix = String(process.pid);

  static available(): boolean {
    return process.getuid?.() === 0;
  }

  group(base: string): string {
    const name = `${base}${this.suffix}`;
    execFileSync('groupadd', [name]);
    this.groups.push(name);
    return name;
  }

  user(base: string, opts: { groups?: string[] } = {}): TestUser {
    const name = `${base}${this.suffix}`;
    const args = ['--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group'];
    if (opts.groups?.length) args.push('--groups', opts.groups.join(','));
    execFileSync('useradd', [...args, name]);
    const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
    const uid = id('-u');
    const gid = id('-g');
    const u = { name, uid, gid };
    this.users.push(u);
    this.groups.push(name); // --user-group
    return u;
  }

  remove(): void {
    for (const u of this.users) execFileSync('userdel', [u.name], { stdio: 'ignore' });
    for (const g of this.groups) {
      try {
        execFileSync('groupdel', [g], { stdio: 'ignore' });
      } catch {
        /* removed with its user */
      }
    }
  }
}
