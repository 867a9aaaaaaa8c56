/** Test helpers: throw-away system users and groups, and QMP clients running as them. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

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

const LINE_CLIENT = fileURLToPath(new URL('./fixtures/line-client.mjs', import.meta.url));

/** A QMP client in a child process running as `uid`/`gid`; messages are parsed per line. */
export class UserClient {
  readonly messages: Record<string, any>[] = [];
  closed = false;
  private buf = '';
  private nextId = 1;

  private constructor(readonly proc: ChildProcess) {
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i).trim();
        this.buf = this.buf.slice(i + 1);
        if (line) this.messages.push(JSON.parse(line));
      }
    });
    proc.on('exit', () => (this.closed = true));
  }

  static start(socketPath: string, user: { uid: number; gid: number }): UserClient {
    return new UserClient(spawn(process.execPath, [LINE_CLIENT, socketPath], { uid: user.uid, gid: user.gid, stdio: ['pipe', 'pipe', 'inherit'] }));
  }

  /** Wait for the n-th message (1-based). */
  async message(n: number, ms = 10_000): Promise<Record<string, any>> {
    const deadline = Date.now() + ms;
    while (this.messages.length < n) {
      if (this.closed && this.messages.length < n) throw new Error(`client exited after ${this.messages.length} messages: ${JSON.stringify(this.messages)}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for message ${n}; got ${JSON.stringify(this.messages)}`);
      await sleep(10);
    }
    return this.messages[n - 1]!;
  }

  /** Wait until the process has exited (the server closed the connection). */
  async exited(ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('client still connected');
      await sleep(10);
    }
  }

  /** Send one command and wait for its reply. */
  async execute(command: string, args?: Record<string, unknown>): Promise<Record<string, any>> {
    const id = this.nextId++;
    this.proc.stdin!.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id }) + '\n');
    const deadline = Date.now() + 10_000;
    for (;;) {
      const m = this.messages.find((x) => x.id === id);
      if (m) return m;
      if (this.closed) throw new Error(`client exited waiting for ${command}`);
      if (Date.now() > deadline) throw new Error(`no reply to ${command}`);
      await sleep(10);
    }
  }

  /** Greeting + qmp_capabilities. */
  async negotiate(): Promise<void> {
    const g = await this.message(1);
    if (!('QMP' in g)) throw new Error(`expected the greeting, got ${JSON.stringify(g)}`);
    const r = await this.execute('qmp_capabilities');
    if (!('return' in r)) throw new Error(`negotiation failed: ${JSON.stringify(r)}`);
  }

  close(): void {
    this.proc.stdin!.end();
  }
}
