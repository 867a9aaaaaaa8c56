/**
 * `qmpmux shell` on a real pseudo-terminal (util-linux `script`, see pty.ts), in front of a real QEMU
 * behind qmpmux with the policy plugin: unix clients of this uid are `operator` (every command), TCP
 * clients fall back to `viewer` (read-only).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient } from '@qmpmux/client';
import { policyPlugin } from '@qmpmux/plugin-policy';
import { QMPMUX_BIN, startProxy, startQemu, type TestProxy, type TestQemu } from '@qmpmux/e2e';
import { spawnPty, type PtyProcess } from './pty.ts';

const NAME_REPLY = '{"return": {"name": "vm-tty"}}';
const PROMPT = /^\(QEMU\)$/; // rows are read with trailing blanks trimmed

describe('qmpmux shell on a terminal', () => {
  let qemu: TestQemu;
  let mux: TestProxy;
  let other: QmpClient;
  const dir = mkdtempSync(join(tmpdir(), 'qmpmux-tty-'));
  const running: PtyProcess[] = [];

  /** A shell on a fresh pty, its history in this test's directory; resolves at its first prompt. */
  async function shell(...args: string[]): Promise<PtyProcess> {
    const p = spawnPty([process.execPath, QMPMUX_BIN, 'shell', '--history', join(dir, 'history'), ...args], { ...process.env, QMPMUX_DEBUG: '' });
    running.push(p);
    await p.waitForRow(/^\((QEMU|HMP)\)$/);
    return p;
  }
  /** Type, then wait for the screen to show the line being typed as `shown` (the prompt's row). */
  async function typeAndSee(p: PtyProcess, keys: string, shown: RegExp): Promise<number> {
    p.type(keys);
    return p.waitForRow(shown);
  }
  /** Wait for readline's listing of exactly these candidates (in columns, maybe over several rows). */
  const listing = (p: PtyProcess, words: string[]) =>
    p.waitUntil((rows) => rows.some((_, i) => rows.slice(i).join(' ').trim().split(/\s+/).slice(0, words.length + 1).join(' ') === `${words.join(' ')} (QEMU)`), `the listing ${words.join(' ')}`);

  before(async () => {
    qemu = await startQemu({ args: ['-name', 'vm-tty'] });
    const policy = {
      principals: [
        { name: 'operator', match: [{ uid: process.getuid!() }], profile: 'full' },
        { name: 'viewer', match: [{ uid: 4_000_000_000 }], profile: 'read-only' },
      ],
      unmatched: { principal: 'viewer' },
    };
    mux = await startProxy(qemu.address, { plugins: [{ definition: policyPlugin, options: policy }] });
    other = await QmpClient.connect(mux.unix);
  });
  after(async () => {
    for (const p of running) p.kill();
    other?.close();
    await mux?.stop();
    await qemu?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('Tab completes a command name, and the completed command runs', async () => {
    const p = await shell(mux.unix);
    await typeAndSee(p, 'query-na', /^\(QEMU\) query-na$/);
    await typeAndSee(p, '\t', /^\(QEMU\) query-name$/);
    p.type('\r');
    await p.waitForRow(new RegExp(`^${escape(NAME_REPLY)}$`));
    // Tab again lists the candidates when there are several.
    await typeAndSee(p, 'system', /^\(QEMU\) system$/);
    await typeAndSee(p, '\t', /^\(QEMU\) system_$/);
    p.type('\t');
    await listing(p, ['system_powerdown', 'system_reset', 'system_wakeup']);
    p.type('\x03\x04');
    assert.equal(await p.exited, 0);
  });

  it('Tab completes only the commands this principal may run', async () => {
    // qom-get and qom-set change nothing the read-only viewer may touch; qom-list* it may run.
    const operator = await shell(mux.unix);
    await typeAndSee(operator, 'qom', /^\(QEMU\) qom$/);
    await typeAndSee(operator, '\t', /^\(QEMU\) qom-$/);
    operator.type('\t');
    await listing(operator, ['qom-get', 'qom-list', 'qom-list-properties', 'qom-list-types', 'qom-set']);
    const viewer = await shell(mux.tcp);
    await typeAndSee(viewer, 'qom', /^\(QEMU\) qom$/);
    await typeAndSee(viewer, '\t', /^\(QEMU\) qom-list$/); // nothing else starts with qom- for it
    viewer.type('\t');
    await listing(viewer, ['qom-list', 'qom-list-properties', 'qom-list-types']);
    operator.type('\x03\x04');
    viewer.type('\x03\x04');
    assert.equal(await operator.exited, 0);
    assert.equal(await viewer.exited, 0);
  });

  it("Tab completes argument names from query-qmp-schema, a union branch's members, and enum values", async () => {
    const p = await shell(mux.unix);
    await typeAndSee(p, 'query-command-line-options op', /^\(QEMU\) query-command-line-options op$/);
    await typeAndSee(p, '\t', /^\(QEMU\) query-command-line-options option=$/);
    p.type('machine\r');
    await p.waitForRow(/"option": "machine"\}\]\}$/);
    // blockdev-add: the driver's values, then that driver's own members (null-co: read-zeroes, size).
    await typeAndSee(p, 'blockdev-add driver=nul', /^\(QEMU\) blockdev-add driver=nul$/);
    await typeAndSee(p, '\t', /^\(QEMU\) blockdev-add driver=null-$/);
    p.type('\t');
    await listing(p, ['driver=null-aio', 'driver=null-co']);
    await typeAndSee(p, 'co re', /^\(QEMU\) blockdev-add driver=null-co re$/);
    await typeAndSee(p, '\t', /^\(QEMU\) blockdev-add driver=null-co read-$/);
    p.type('\t');
    await listing(p, ['read-only=', 'read-zeroes=']);
    // A member already given is not offered again: only read-zeroes= is left.
    await typeAndSee(p, 'only=true re', /^\(QEMU\) blockdev-add driver=null-co read-only=true re$/);
    await typeAndSee(p, '\t', /^\(QEMU\) blockdev-add driver=null-co read-only=true read-zeroes=$/);
    // An object member: key. then its members.
    await typeAndSee(p, 'true ca', /read-zeroes=true ca$/);
    await typeAndSee(p, '\t', /read-zeroes=true cache\.$/);
    p.type('\t');
    await listing(p, ['cache.direct=', 'cache.no-flush=']);
    p.type('\x03\x04');
    assert.equal(await p.exited, 0);
  });

  it('history: a line entered in one session is recalled with Up in the next', async () => {
    writeFileSync(join(dir, 'history'), '');
    const first = await shell(mux.unix);
    first.type('query-name\r');
    await first.waitForRow(new RegExp(`^${escape(NAME_REPLY)}$`));
    first.type(' query-version\r'); // a leading space: not saved
    await first.waitForRow(/^\{"return": \{"qemu"/);
    first.type('\x04');
    assert.equal(await first.exited, 0);
    assert.deepEqual(readFileSync(join(dir, 'history'), 'utf8').split('\n'), ['query-name', '']);

    const second = await shell(mux.unix);
    await typeAndSee(second, '\x1b[A', /^\(QEMU\) query-name$/);
    second.type('\r');
    await second.waitForRow(new RegExp(`^${escape(NAME_REPLY)}$`));
    second.type('\x04');
    assert.equal(await second.exited, 0);
  });

  it('Ctrl-C drops the line being typed (and a transaction being built), and the shell stays', async () => {
    const p = await shell(mux.unix);
    await typeAndSee(p, 'query-status', /^\(QEMU\) query-status$/);
    p.type('\x03');
    await p.waitForRow(/^\(QEMU\) query-status\^C$/);
    await p.waitForRow(PROMPT);
    p.type('transaction(\r');
    await p.waitForRow(/^TRANS>$/);
    await typeAndSee(p, 'abort', /^TRANS> abort$/);
    p.type('\x03');
    const prompt = await p.waitForRow(PROMPT, p.screen().length - 1);
    p.type('query-name\r');
    await p.waitForRow(new RegExp(`^${escape(NAME_REPLY)}$`), prompt);
    assert.ok(!p.text().includes('"running"'), 'the dropped query-status was not sent');
    p.type('\x04');
    assert.equal(await p.exited, 0);
  });

  it('Ctrl-D on an empty line leaves, exit status 0', async () => {
    const p = await shell(mux.unix);
    p.type('\x04');
    assert.equal(await p.exited, 0);
  });

  it('an event from another client is printed while at the prompt, and the line being typed stays intact', async () => {
    const p = await shell(mux.unix);
    await typeAndSee(p, 'query-na', /^\(QEMU\) query-na$/);
    await other.execute('stop');
    const stop = await p.waitForRow(/^\{"timestamp": \{"seconds": \d+, "microseconds": \d+\}, "event": "STOP"\}$/);
    await other.execute('cont');
    const resume = await p.waitForRow(/"event": "RESUME"\}$/, stop);
    await p.waitForRow(/^\(QEMU\) query-na$/, resume);
    assert.deepEqual(p.screen().slice(stop), [p.screen()[stop], p.screen()[resume], '(QEMU) query-na'], 'events, then the prompt and the line, nothing else');
    p.type('me\r');
    await p.waitForRow(new RegExp(`^${escape(NAME_REPLY)}$`), resume);

    // A line longer than the terminal is wide (two rows) is redrawn whole too.
    const long = '{"execute": "query-name", "id": "a-long-id-that-makes-this-line-wrap-onto-a-second-row-of-the-terminal"}';
    const longShown = (rows: string[]) => rows.slice(-2).join('') === `(QEMU) ${long}`;
    p.type(long);
    await p.waitUntil(longShown, 'the long line');
    const before = p.screen().length;
    await other.execute('stop');
    const stop2 = await p.waitForRow(/"event": "STOP"\}$/, before - 2);
    await p.waitUntil((rows) => rows.length === stop2 + 3 && longShown(rows), 'the long line redrawn below the event');
    await other.execute('cont');
    p.type('\r');
    await p.waitForRow(/^\{"return": \{"name": "vm-tty"\}, "id": "a-long-id/);
    p.type('\x04');
    assert.equal(await p.exited, 0);
  });

  it('Ctrl-C while a command waits for its reply leaves the shell, exit status 130', async () => {
    const p = await shell('-v', mux.unix);
    qemu.proc.kill('SIGSTOP'); // QEMU will not answer until SIGCONT
    try {
      p.type('query-status\r');
      await p.waitForRow(/^\{"execute": "query-status"\}$/); // -v: sent, now waiting
      p.type('\x03');
      assert.equal(await p.exited, 130);
    } finally {
      qemu.proc.kill('SIGCONT');
    }
    assert.equal(((await other.execute('query-status')) as { status: string }).status, 'running');
  });

  it('-H: Tab completes HMP commands and info subcommands; the output is HMP text', async () => {
    const p = await shell('-H', mux.unix);
    await typeAndSee(p, 'info versi', /^\(HMP\) info versi$/);
    await typeAndSee(p, '\t', /^\(HMP\) info version$/);
    p.type('\r');
    const v = ((await other.execute('query-version')) as { qemu: { major: number; minor: number; micro: number }; package: string });
    await p.waitForRow(new RegExp(`^${escape(`${v.qemu.major}.${v.qemu.minor}.${v.qemu.micro}${v.package}`)}$`));
    p.type('\x04');
    assert.equal(await p.exited, 0);
  });

  it('-N: nothing to complete until the user negotiates; then completion works', async () => {
    const p = await shell('-N', mux.unix);
    p.type('qmp_capabilities\r');
    await p.waitForRow(/^\{"return": \{\}\}$/);
    await typeAndSee(p, 'query-na', /^\(QEMU\) query-na$/);
    await typeAndSee(p, '\t', /^\(QEMU\) query-name$/);
    p.type('\r');
    await p.waitForRow(new RegExp(`^${escape(NAME_REPLY)}$`));
    p.type('\x04');
    assert.equal(await p.exited, 0);
  });

  it('exits 1, saying so, when qmpmux closes the connection (QEMU quit)', async () => {
    const q = await startQemu();
    const m = await startProxy(q.address, { tcp: false });
    try {
      const p = await shell(m.unix);
      p.type('quit\r');
      assert.equal(await p.exited, 1);
      assert.match(p.text(), /qmpmux shell: connection to unix:\S+ closed/);
    } finally {
      await m.stop();
      await q.stop();
    }
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
