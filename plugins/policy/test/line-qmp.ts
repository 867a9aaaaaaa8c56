/**
 * QMP conversations read line by line (qmpmux, as QEMU, ends every message with a line end): as
 * another user, through a client in a child process (UserClient), or over TLS with a certificate
 * (TlsQmp). Messages are parsed as they come; commands are matched to their replies by id.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

export class LineQmp {
  readonly messages: Record<string, any>[] = [];
  closed = false;
  error: Error | undefined;
  private buf = '';
  private nextId = 1;

  /** `input`: what the server sends; `send` writes one command's text; `end` hangs up. */
  protected constructor(input: Readable, private readonly send: (text: string) => void, private readonly end: () => void) {
    input.setEncoding('utf8');
    input.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i).trim();
        this.buf = this.buf.slice(i + 1);
        if (line) this.messages.push(JSON.parse(line));
      }
    });
  }

  /** Wait until `pred` holds; fail when the connection ends first, or after `ms`. */
  async until(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (this.closed && !pred()) throw new Error(`closed while waiting for ${what} (${this.error?.message ?? 'no error'}); got ${JSON.stringify(this.messages)}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.messages)}`);
      await sleep(10);
    }
  }

  /** Wait for the n-th message (1-based). */
  async message(n: number, ms = 10_000): Promise<Record<string, any>> {
    await this.until(() => this.messages.length >= n, `message ${n}`, ms);
    return this.messages[n - 1]!;
  }

  /** Wait until the connection has ended (the server closed it: refused, or after a refusal). */
  async ended(ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('still connected');
      await sleep(10);
    }
  }

  /** Send one command and wait for its reply. */
  async execute(command: string, args?: Record<string, unknown>): Promise<Record<string, any>> {
    const id = this.nextId++;
    this.send(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id }));
    await this.until(() => this.messages.some((m) => m.id === id), `the reply to ${command}`);
    return this.messages.find((m) => m.id === id)!;
  }

  /** The greeting, then qmp_capabilities. */
  async negotiate(): Promise<void> {
    const greeting = await this.message(1);
    assert.ok('QMP' in greeting, `greeting, got ${JSON.stringify(greeting)}`);
    assert.deepEqual((await this.execute('qmp_capabilities')).return, {});
  }

  close(): void {
    this.end();
  }
}

const LINE_CLIENT = fileURLToPath(new URL('./fixtures/line-client.mjs', import.meta.url));

/** A QMP client in a child process running as `uid`/`gid` (fixtures/line-client.mjs): it ends when the connection does. */
export class UserClient extends LineQmp {
  private constructor(readonly proc: ChildProcess) {
    super(proc.stdout!, (text) => proc.stdin!.write(text + '\n'), () => proc.stdin!.end());
    proc.on('exit', () => (this.closed = true));
  }

  static start(socketPath: string, user: { uid: number; gid: number }): UserClient {
    return new UserClient(spawn(process.execPath, [LINE_CLIENT, socketPath], { uid: user.uid, gid: user.gid, stdio: ['pipe', 'pipe', 'inherit'] }));
  }
}

/** A QMP client over TLS to `tls:HOST:PORT`, trusting `ca`, with a client certificate when given. */
export class TlsQmp extends LineQmp {
  private constructor(readonly sock: tls.TLSSocket) {
    super(sock, (text) => sock.write(text), () => sock.end());
    sock.on('error', (e) => (this.error = e));
    sock.on('close', () => (this.closed = true));
  }

  static connect(address: string, ca: string, client?: { cert: string; key: string }): TlsQmp {
    const [, host, port] = /^tls:(.*):(\d+)$/.exec(address)!;
    return new TlsQmp(
      tls.connect({ host, port: Number(port), ca: readFileSync(ca), servername: 'localhost', ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}) }),
    );
  }
}
