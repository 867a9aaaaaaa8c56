/** PluginHost: hook order by HOOKS, reverse replies, rewrites, verdicts, own-command routing, throwing hooks, fail-closed. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PluginHost } from '../src/plugin-host.ts';
import { answer, createLogger, ownCommand, refuse, type ClientInfo, type CommandContext, type Plugin, type ReplyContext } from '../src/index.ts';

const log = createLogger('test', 'silent');
const client = { id: 1, peer: { transport: 'unix', address: '/s' }, connectedAt: new Date(0), principal: undefined, attributes: new Map(), negotiated: true, oob: false, stats: { commands: 0, events: 0 } } as ClientInfo;
const cmd = (command: string, args?: CommandContext['arguments'], oob = false): CommandContext => ({ client, command, arguments: args, oob, idText: '1', fds: [], receivedAt: 0n, state: new Map() });
const replyOf = (c: CommandContext): ReplyContext => ({ command: c, source: 'qemu', executed: c.command, result: () => ({ return: {} }), memo: (_k, f) => f() });

/** A plugin that records each hook call as `name:hook`. */
function recorder(name: string, seen: string[], extra: Partial<Plugin> = {}): Plugin {
  const note = (h: string) => async () => void seen.push(`${name}:${h}`);
  return { name, onClientConnect: note('connect'), onNegotiated: note('negotiated'), onCommand: note('command'), onReply: note('reply'), onEvent: note('event'), onClientDisconnect: note('disconnect'), close: note('close'), ...extra };
}

describe('PluginHost', () => {
  it('runs forward hooks in plugin order and reverse hooks the other way round', async () => {
    const seen: string[] = [];
    const host = new PluginHost([recorder('a', seen), recorder('b', seen)], log);
    await host.clientConnect(client);
    await host.negotiated(client);
    const c = cmd('query-status');
    const { answeredBy } = await host.command(c);
    await host.reply(replyOf(c), answeredBy);
    await host.event({ seq: 1, name: 'STOP', raw: Buffer.from('{}'), value: () => ({ event: 'STOP', timestamp: { seconds: 0, microseconds: 0 } }) });
    await host.clientDisconnect(client);
    await host.close();
    assert.deepEqual(seen, ['a:connect', 'b:connect', 'a:negotiated', 'b:negotiated', 'a:command', 'b:command', 'b:reply', 'a:reply', 'b:event', 'a:event', 'b:disconnect', 'a:disconnect', 'b:close', 'a:close']);
  });

  it('passes rewrites on, stops at the first answer, and sends the reply back only through the plugins before it', async () => {
    const seen: string[] = [];
    const a = recorder('a', seen, { onCommand: async (c) => (c.command === 'x' ? { action: 'continue', command: 'y', arguments: { n: 1 } } : undefined) });
    const b = recorder('b', seen, { onCommand: async (c) => (seen.push(`b saw ${c.command} ${JSON.stringify(c.arguments)}`), c.command === 'y' ? refuse('NOT_PERMITTED', 'y', 'p') : undefined) });
    const c = recorder('c', seen);
    const host = new PluginHost([a, b, c], log);
    const x = cmd('x');
    const r = await host.command(x);
    assert.deepEqual(r, { verdict: refuse('NOT_PERMITTED', 'y', 'p'), answeredBy: 1 });
    await host.reply(replyOf(x), r.answeredBy);
    assert.deepEqual(seen, ['b saw y {"n":1}', 'a:reply'], 'c never saw the command or its reply; b answered, so only a sees the reply');
    const ok = await host.command(cmd('x'));
    assert.deepEqual(ok.verdict, refuse('NOT_PERMITTED', 'y', 'p'));
    const plain = await host.command(cmd('query-status'));
    assert.deepEqual(plain, { verdict: { action: 'continue' }, answeredBy: 3 });
  });

  it('a rewrite reaches QEMU when nobody answers; the last reply replacement wins, each seeing the previous', async () => {
    const seenResult: unknown[] = [];
    const a: Plugin = { name: 'a', onCommand: async () => ({ action: 'continue', arguments: { k: 'v' } }), onReply: async (r) => (seenResult.push(r.result()), { action: 'replace', return: 'from a' }) };
    const b: Plugin = { name: 'b', onReply: async (r) => (seenResult.push(r.result()), { action: 'replace', return: 'from b' }) };
    const host = new PluginHost([a, b], log);
    const c = cmd('query-status');
    const r = await host.command(c);
    assert.deepEqual(r, { verdict: { action: 'continue', command: 'query-status', arguments: { k: 'v' } }, answeredBy: 2 });
    assert.deepEqual(await host.reply(replyOf(c), r.answeredBy), { action: 'replace', return: 'from a' });
    assert.deepEqual(seenResult, [{ return: {} }, { return: 'from b' }]);
  });

  it('fails closed: a throwing onClientConnect refuses, a throwing onCommand or own command refuses the command', async () => {
    const boom = async () => {
      throw new Error('boom');
    };
    const host = new PluginHost([{ name: 'p', onClientConnect: boom, onCommand: boom }], log);
    assert.deepEqual(await host.clientConnect(client), { action: 'refuse', reason: "plugin 'p' failed in onClientConnect: boom" });
    assert.deepEqual((await host.command(cmd('stop'))).verdict, refuse('PLUGIN_FAILED', 'p', 'onCommand', 'boom'));
    const own = new PluginHost([{ name: 'q', commands: [ownCommand({ name: '__org.qmpmux_x-boom', run: boom })] }], log);
    assert.deepEqual((await own.command(cmd('__org.qmpmux_x-boom'))).verdict, refuse('PLUGIN_FAILED', 'q', '__org.qmpmux_x-boom', 'boom'));
  });

  it('elsewhere a throwing hook is logged and ignored: the other plugins still run', async () => {
    const seen: string[] = [];
    const host = new PluginHost([recorder('a', seen), { name: 'bad', onNegotiated: async () => Promise.reject(new Error('x')), onReply: async () => Promise.reject(new Error('x')) }], log);
    await host.negotiated(client);
    assert.equal(await host.reply(replyOf(cmd('q')), 2), undefined);
    assert.deepEqual(seen, ['a:negotiated', 'a:reply']);
  });

  it("routes an own command to its plugin after that plugin's onCommand, with the arguments checked", async () => {
    const seen: string[] = [];
    const echo = ownCommand({
      name: '__org.qmpmux_x-echo',
      data: { text: 'str', '*times': 'uint8' },
      run: async (args, c) => (seen.push(`run by ${c.client.id}`), answer(Array.from({ length: args.times ?? 1 }, () => args.text))),
    });
    const gate: Plugin = { name: 'gate', onCommand: async (c) => (c.command.endsWith('echo') && c.arguments?.text === 'no' ? refuse('NOT_PERMITTED', c.command, 'p') : undefined) };
    const owner: Plugin = { name: 'owner', commands: [echo], onCommand: async (c) => void seen.push(`owner saw ${c.command}`) };
    const after = recorder('after', seen);
    const host = new PluginHost([gate, owner, after], log);
    assert.deepEqual(await host.command(cmd('__org.qmpmux_x-echo', { text: 'hi', times: 2 })), { verdict: answer(['hi', 'hi']), answeredBy: 1 });
    assert.deepEqual((await host.command(cmd('__org.qmpmux_x-echo', { text: 'no' }))).verdict.action, 'error');
    assert.deepEqual((await host.command(cmd('__org.qmpmux_x-echo', {}))).verdict, refuse('ARG_MISSING', 'text'));
    assert.deepEqual((await host.command(cmd('__org.qmpmux_x-echo', { text: 'a', times: 300 }))).verdict, refuse('ARG_EXPECTS', 'times', 'uint8_t'));
    assert.deepEqual((await host.command(cmd('__org.qmpmux_x-echo', { text: 'a', extra: 1 }))).verdict, refuse('ARG_UNEXPECTED', 'extra'));
    assert.deepEqual((await host.command(cmd('__org.qmpmux_x-echo', { text: 'a' }, true))).verdict, refuse('NO_OOB', '__org.qmpmux_x-echo'));
    assert.deepEqual(seen.filter((s) => s.startsWith('run')), ['run by 1'], 'run only once, for the valid call');
    assert.ok(!seen.some((s) => s.startsWith('after:')), 'plugins after the owner never see its command');
  });

  it('refuses an undeclared __org.qmpmux_ command as QEMU refuses an unknown one, after every plugin had its say', async () => {
    const seen: string[] = [];
    const host = new PluginHost([recorder('a', seen)], log);
    const r = await host.command(cmd('__org.qmpmux_nope'));
    assert.deepEqual(r, { verdict: { action: 'error', class: 'CommandNotFound', desc: 'The command __org.qmpmux_nope has not been found', code: 'COMMAND_NOT_FOUND' }, answeredBy: 1 });
    assert.deepEqual(seen, ['a:command']);
  });

  it('the first declaration of a name wins', async () => {
    const host = new PluginHost(
      [
        { name: 'one', commands: [ownCommand({ name: '__org.qmpmux_x', run: async () => answer(1) })] },
        { name: 'two', commands: [ownCommand({ name: '__org.qmpmux_x', run: async () => answer(2) })] },
      ],
      log,
    );
    assert.deepEqual(await host.command(cmd('__org.qmpmux_x')), { verdict: answer(1), answeredBy: 0 });
  });
});
