/**
 * The policy's view of cached introspection (query-commands, query-qmp-schema) is worked out once per
 * principal per QEMU connection (ReplyContext.memo), again after a reload or a reconnect. Principals
 * by WebSocket token; real QEMU.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createLogger, type LogLevel } from '@qmpmux/core';
import { WsClient, startProxy, startQemu, waitReady, type TestProxy, type TestQemu } from '@qmpmux/e2e';
import { policyPlugin } from '../src/index.ts';

const AGENT = 'agent-token-5e1c8a7f3b9d2046';
const ROBOT = 'robot-token-c4f0a2e8d6b13579';

describe("policy views of cached introspection", () => {
  let qemu: TestQemu;
  let mux: TestProxy;
  let dir: string;
  const computed: string[] = [];
  const policy = (robotProfile: string) => ({
    principals: [
      { name: 'agent', match: [{ token: { file: join(dir, 'agent') } }], profile: 'vm-control' },
      { name: 'robot', match: [{ token: { file: join(dir, 'robot') } }], profile: robotProfile },
    ],
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qmpmux-views-'));
    writeFileSync(join(dir, 'agent'), AGENT, { mode: 0o600 });
    writeFileSync(join(dir, 'robot'), ROBOT, { mode: 0o600 });
    qemu = await startQemu();
    const log = createLogger('qmpmux', 'debug', (_l: LogLevel, _tag, msg, fields) => {
      if (msg === 'introspection view computed') computed.push(`${fields!.principal} ${fields!.command}`);
    });
    mux = await startProxy(qemu.address, { ws: true, log, plugins: [{ definition: policyPlugin, options: policy('read-only') }] });
  });
  after(async () => {
    await mux?.stop();
    await qemu?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One client with this token: the raw replies (texts) to these commands, in order. */
  const ask = async (token: string, commands: string[]): Promise<string[]> => {
    const c = await WsClient.connect(mux.ws, { protocols: ['qmp.json'], headers: { Authorization: `Bearer ${token}` } });
    await c.count(1);
    c.send('{"execute":"qmp_capabilities"}');
    for (const [i, cmd] of commands.entries()) c.send(JSON.stringify({ execute: cmd, id: i }));
    const replies = () => c.texts.slice(2).filter((t) => !t.startsWith('{"timestamp"'));
    await c.until(() => replies().length >= commands.length, 10_000, 'replies');
    c.close();
    return replies();
  };
  const names = (text: string): string[] => (JSON.parse(text).return as { name: string }[]).map((e) => e.name);
  const commandsIn = (schemaText: string): string[] =>
    (JSON.parse(schemaText).return as { name: string; 'meta-type': string }[]).filter((e) => e['meta-type'] === 'command').map((e) => e.name);

  it('a second request of the same principal is not filtered again, and gets the same bytes', async () => {
    const [c1, s1, c2, s2] = await ask(AGENT, ['query-commands', 'query-qmp-schema', 'query-commands', 'query-qmp-schema']);
    assert.deepEqual(computed, ['agent query-commands', 'agent query-qmp-schema']);
    assert.equal(c2!.replace('"id": 2', '"id": 0'), c1);
    assert.equal(s2!.replace('"id": 3', '"id": 1'), s1);
    assert.ok(names(c1!).includes('stop') && !names(c1!).includes('quit'));
    assert.ok(commandsIn(s1!).includes('stop') && !commandsIn(s1!).includes('quit'));
    // Another connection of the same principal: still nothing computed.
    const [c3] = await ask(AGENT, ['query-commands']);
    assert.equal(c3, c1);
    assert.equal(computed.length, 2);
  });

  it('another principal gets its own view, computed once', async () => {
    computed.length = 0;
    const [c1, c2] = await ask(ROBOT, ['query-commands', 'query-commands']);
    assert.deepEqual(computed, ['robot query-commands']);
    assert.equal(c2!.replace('"id": 1', '"id": 0'), c1);
    assert.ok(names(c1!).includes('query-status') && !names(c1!).includes('stop'), 'read-only: no stop');
  });

  it('a reload changes the view', async () => {
    computed.length = 0;
    await mux.proxy.reload([{ definition: policyPlugin, options: policy('vm-control') }]);
    const [robot] = await ask(ROBOT, ['query-commands']);
    assert.ok(names(robot!).includes('stop'), 'vm-control now: stop is listed');
    const [agent] = await ask(AGENT, ['query-commands']);
    assert.ok(names(agent!).includes('stop'));
    assert.deepEqual(computed, ['robot query-commands', 'agent query-commands'], 'every view is computed again after the reload');
  });

  it('a reconnect to QEMU computes the views again', async () => {
    computed.length = 0;
    await ask(ROBOT, ['query-commands']);
    assert.deepEqual(computed, []);
    await qemu.kill();
    await qemu.restart();
    await waitReady(mux.proxy);
    const [again] = await ask(ROBOT, ['query-commands', 'query-commands']);
    assert.ok(names(again!).includes('stop'));
    assert.deepEqual(computed, ['robot query-commands'], 'once after the reconnect');
  });
});
