/**
 * Warm the hot path before the first client: V8 compiles and optimises a function only after it has
 * run for a while, and the first few thousand commands after start would otherwise carry that cost
 * as a latency tail (docs/operations.md has the figures).
 *
 * A warm-up client talks to a warm-up session through a private listener of the same kind as the
 * proxy's own (a unix socket in a fresh 0700 directory, or TCP on 127.0.0.1 port 0): the same
 * transport code, the same Conn shapes, the same Session → plugin host → dispatcher → QEMU → splice
 * path a real client takes, so nothing the first client runs is new to V8. Only side-effect-free
 * commands are sent (query-status, query-name, query-version: the cached path too), by several
 * clients one after another. No plugin sees them (passThroughPlugins), nothing is counted in
 * metrics, nobody sees the session among the clients.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, listen, parseAddress, type Conn } from '@qmpmux/transports';
import type { Limits } from './limits.ts';
import type { Logger } from './log.ts';
import type { PluginHost } from './plugin-host.ts';
import type { Session } from './session.ts';
import type { Plugin } from './types.ts';
import { classifyLine } from './upstream-message.ts';
import type { UpstreamLink } from './upstream.ts';

/** What the warm-up needs of the proxy (a Proxy is one): its link, log and limits, and warm-up sessions. */
export interface WarmUpTarget {
  readonly link: UpstreamLink;
  readonly log: Logger;
  readonly limits: Limits;
  /** A session for a warm-up connection: not a client, not counted, seen by no plugin (Proxy.warmUpSession). */
  warmUpSession(conn: Conn): Session;
}

const COMMANDS = ['query-status', 'query-status', 'query-status', 'query-name', 'query-version'];
/**
 * Several clients one after another: V8 specialises a call site on the one closure it has seen, and
 * every session makes its own closures; the first real client must not be the second ever.
 */
const SESSIONS = 8;
/**
 * The shapes of request real clients send, in turn: no id, a number id, a string id (libvirt's
 * "libvirt-N"), arguments. Each makes objects of another shape in the parser and the session; had
 * the warm-up sent one, the first real client sending another would have V8 throw away code.
 */
const request = (command: string, k: number): string => {
  switch (k % 4) {
    case 0:
      return `{"execute": "${command}"}`;
    case 1:
      return `{"execute": "${command}", "id": ${k}}`;
    case 2:
      return `{"execute": "${command}", "id": "warm-up-${k}"}`;
    default:
      return `{"execute": "${command}", "arguments": {}, "id": ${k}}`;
  }
};
const EVENT = Buffer.from('{"timestamp": {"seconds": 1700000000, "microseconds": 1}, "event": "STOP"}');

/**
 * The warm-up session's plugins: none of the real ones (they must not see warm-up commands), but
 * pass-through plugins with the hooks the real plugins have (onCommand, onReply), so the plugin
 * host's machinery runs as it will. Five of them, each of its own shape, with two different hook
 * functions: V8 specialises a property load on the (up to four) object shapes it has seen, and a
 * call on the one function it has seen, and throws that code away when another comes; past that it
 * stops specialising. The real plugins, whose shapes the warm-up cannot know, are then nothing new.
 */
export function passThroughPlugins(real: PluginHost): Plugin[] {
  if (!real.hasCommandHooks && !real.hasReplyHooks) return [];
  const hooks = [async () => {}, async () => undefined];
  return Array.from({ length: 5 }, (_, i) => {
    const p: Plugin & Record<string, unknown> = { name: `warm-up-${i}`, [`shape${i}`]: i };
    if (real.hasCommandHooks) p.onCommand = hooks[i % 2]!;
    if (real.hasReplyHooks) p.onReply = hooks[(i + 1) % 2]!;
    p.onNegotiated = hooks[i % 2]!;
    return p;
  });
}

/** Wait (bounded by upstreamWaitMs) for QEMU, then run `n` commands one after another; never throws. */
export async function warmUp(proxy: WarmUpTarget, n: number, listen: readonly string[]): Promise<void> {
  if (!(await upstreamReady(proxy))) return proxy.log.warn('warm-up skipped: QEMU is not ready');
  const kinds = new Set(listen.map((a) => parseAddress(a).kind).filter((k) => k === 'unix' || k === 'tcp'));
  if (!kinds.size) kinds.add('unix');
  const started = process.hrtime.bigint();
  let done = 0;
  for (const kind of kinds) {
    try {
      done += await through(proxy, kind as 'unix' | 'tcp', Math.ceil(n / kinds.size));
    } catch (e) {
      proxy.log.warn(`warm-up through ${kind} failed: ${(e as Error).message}`);
    }
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  proxy.log.info(`warm-up: ${done} commands in ${ms.toFixed(0)} ms (through ${[...kinds].join(', ')})`);
}

function upstreamReady(proxy: WarmUpTarget): Promise<boolean> {
  const link = proxy.link;
  if (link.state === 'ready') return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const t = setTimeout(() => done(false), proxy.limits.upstreamWaitMs);
    const sub = link.state$.subscribe((s) => {
      if (s === 'ready') done(true);
      if (s === 'closed') done(false);
    });
    function done(v: boolean) {
      clearTimeout(t);
      queueMicrotask(() => sub.unsubscribe());
      resolve(v);
    }
  });
}

/** `n` commands through a private listener of this kind; how many ran. */
async function through(proxy: WarmUpTarget, kind: 'unix' | 'tcp', n: number): Promise<number> {
  const dir = kind === 'unix' ? mkdtempSync(join(tmpdir(), 'qmpmux-warm-up-')) : undefined;
  const listener = await listen(dir ? `unix:${join(dir, 'w.sock')}` : 'tcp:127.0.0.1:0', (conn) => {
    const session = proxy.warmUpSession(conn);
    session.start();
    if (proxy.link.state === 'ready') session.greet(proxy.link.greeting!);
    else session.close('QEMU monitor connection lost');
  });
  let ran = 0;
  try {
    const per = Math.ceil(n / SESSIONS);
    for (let i = 0; i < SESSIONS && ran < n; i++) ran += await session(proxy, listener.bound, Math.min(per, n - ran), ran);
  } finally {
    await listener.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
  return ran;
}

/** One warm-up client: `n` commands, one after another; how many ran. */
async function session(proxy: WarmUpTarget, address: string, n: number, first: number): Promise<number> {
  let client: Conn | undefined;
  let ran = 0;
  try {
    client = await connect(address);
    let lines = 0;
    let want = 0;
    let closed = false;
    let wake = () => {};
    client.onData = (chunk) => {
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
      if (lines >= want) wake();
    };
    client.onClose = () => {
      closed = true;
      wake();
    };
    const c = client;
    const exchange = (text?: string) =>
      new Promise<void>((resolve) => {
        want = lines + 1;
        wake = resolve;
        if (text) c.write(Buffer.from(text, 'latin1'));
        if (lines >= want || closed) resolve();
      });
    c.start();
    await exchange(); // the greeting
    await exchange('{"execute": "qmp_capabilities"}');
    for (; ran < n && !closed && proxy.link.state === 'ready'; ran++) {
      const k = first + ran;
      await exchange(request(COMMANDS[k % COMMANDS.length]!, k));
      if (k % 8 === 0) classifyLine(EVENT);
    }
  } finally {
    client?.destroy();
  }
  return ran;
}
