// The model against QEMU's own account of itself: `query-qmp-schema`, both as recorded in
// ../shared/qapi and live from the installed qemu-system-x86_64 (7.2, x86_64, -M none).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compareWithIntrospection, defaultSchema, loadSchema, qapiDataDir, type SchemaInfo } from '../src/index.ts';

const model = loadSchema(defaultSchema);
const recorded = JSON.parse(readFileSync(resolve(qapiDataDir, 'qemu-7.2-query-qmp-schema.json'), 'utf8')) as SchemaInfo[];

/** Targets of the 7.2 schema absent from an x86_64 binary: ARM-only and s390x-only commands. */
const ABSENT_ON_X86 = ['query-cpu-model-comparison', 'query-cpu-model-baseline', 'dump-skeys', 'query-gic-capabilities'];

describe('model vs recorded query-qmp-schema (qemu-7.2-query-qmp-schema.json)', () => {
  it('agrees on every command and event', () => {
    const report = compareWithIntrospection(model, recorded);
    assert.deepEqual(report.mismatches, []);
    assert.equal(report.commandsChecked, 216);
    assert.equal(report.eventsChecked, 52);
    assert.deepEqual([...report.absent.commands].sort(), [...ABSENT_ON_X86].sort());
    assert.deepEqual(report.absent.events, []);
  });

  it('reports differences: a missing member, wrong optionality, an unknown command, an extra enum value', () => {
    const schema = structuredClone(recorded) as { -readonly [K in keyof SchemaInfo]: SchemaInfo[K] }[];
    const byName = new Map(schema.map((e) => [e.name, e]));
    const addFd = byName.get('add-fd')!;
    const args = byName.get(addFd['arg-type']!)!;
    // fdset-id becomes required, opaque disappears from the binary's side, a member appears
    args.members = [{ name: 'fdset-id', type: 'int' }, { name: 'secret', type: 'str' }];
    schema.push({ name: 'x-new-command', 'meta-type': 'command', 'arg-type': '0', 'ret-type': '0' });
    const status = byName.get(byName.get('query-status')!['ret-type']!)!;
    const runState = byName.get(status.members!.find((m) => m.name === 'status')!.type!)!;
    runState.values = [...runState.values!, 'dancing'];
    runState.members = [...runState.members!, { name: 'dancing' }];
    const report = compareWithIntrospection(model, schema);
    const got = report.mismatches.map((m) => `${m.path}: ${m.message}`).sort();
    assert.deepEqual(got, [
      "command add-fd / arg-type (q_obj_add-fd-arg) / member 'fdset-id': optional in the model only",
      "command add-fd / arg-type (q_obj_add-fd-arg): member 'opaque' is unconditional in the model, but the binary lacks it",
      "command add-fd / arg-type (q_obj_add-fd-arg): the binary has member 'secret', the model does not",
      "command query-status / ret-type (StatusInfo) / member 'status' (enum RunState): the binary has value 'dancing', the model does not",
      'command x-new-command: the binary has this command, the model does not',
    ]);
  });
});

/** The smallest QMP client that can do this job: one command at a time, replies by line. */
class MiniQmp {
  private buffer = '';
  private readonly waiting: ((msg: Record<string, unknown>) => void)[] = [];
  private readonly queue: Record<string, unknown>[] = [];

  constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as Record<string, unknown>;
        if ('event' in msg) continue;
        const w = this.waiting.shift();
        if (w) w(msg);
        else this.queue.push(msg);
      }
    });
  }

  next(): Promise<Record<string, unknown>> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((res, rej) => {
      const onClose = (): void => rej(new Error('QMP socket closed'));
      this.sock.once('close', onClose);
      this.waiting.push((msg) => {
        this.sock.off('close', onClose);
        res(msg);
      });
    });
  }

  async execute(command: string): Promise<unknown> {
    this.sock.write(`${JSON.stringify({ execute: command })}\n`);
    const reply = await this.next();
    if ('error' in reply) throw new Error(`${command}: ${JSON.stringify(reply['error'])}`);
    return reply['return'];
  }
}

async function connectWhenReady(path: string, qemu: ChildProcess, deadline: number): Promise<Socket> {
  for (;;) {
    if (qemu.exitCode !== null) throw new Error(`qemu exited with ${qemu.exitCode}`);
    try {
      return await new Promise<Socket>((res, rej) => {
        const s = connect(path);
        s.once('connect', () => res(s));
        s.once('error', rej);
      });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('model vs the installed QEMU (live query-qmp-schema)', () => {
  let dir: string | undefined;
  let qemu: ChildProcess | undefined;
  let sock: Socket | undefined;
  let stderr = '';
  let live: SchemaInfo[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qapi-live-'));
    const path = join(dir, 'qmp.sock');
    qemu = spawn('qemu-system-x86_64', ['-M', 'none', '-display', 'none', '-nodefaults', '-qmp', `unix:${path},server=on,wait=off`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    qemu.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const spawned = new Promise<void>((res, rej) => {
      qemu!.once('spawn', res);
      qemu!.once('error', rej);
    });
    await spawned;
    sock = await connectWhenReady(path, qemu, Date.now() + 10_000);
    const qmp = new MiniQmp(sock);
    const greeting = await qmp.next();
    assert.ok('QMP' in greeting, `expected the QMP greeting, got ${JSON.stringify(greeting)}`);
    await qmp.execute('qmp_capabilities');
    live = (await qmp.execute('query-qmp-schema')) as SchemaInfo[];
  });

  after(async () => {
    sock?.destroy();
    if (qemu && qemu.exitCode === null && qemu.signalCode === null) {
      const exited = new Promise((res) => qemu!.once('exit', res));
      qemu.kill('SIGKILL');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is QEMU 7.2 answering', () => {
    assert.ok(live.length > 0, `no schema from qemu; stderr: ${stderr}`);
  });

  it('every command and event the binary reports has the same members and optionality in the model', (t) => {
    const report = compareWithIntrospection(model, live);
    const commands = live.filter((e) => e['meta-type'] === 'command').length;
    const events = live.filter((e) => e['meta-type'] === 'event').length;
    t.diagnostic(`binary: ${live.length} SchemaInfo entries, ${commands} commands, ${events} events; ${report.typesCompared} type pairs compared`);
    t.diagnostic(`conditional and absent from this binary: ${report.absent.commands.join(', ') || 'none'}`);
    assert.deepEqual(report.mismatches, []);
    assert.equal(report.commandsChecked, commands);
    assert.equal(report.eventsChecked, events);
    assert.ok(commands >= 200 && events >= 50, `suspiciously few: ${commands} commands, ${events} events`);
    for (const name of report.absent.commands) assert.notEqual(model.commands.get(name)?.if, undefined, name);
  });
});
