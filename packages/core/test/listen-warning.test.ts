/** Plain TCP away from loopback is allowed, with a warning. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Proxy, createLogger } from '../src/index.ts';

async function warningsFor(listen: string[]): Promise<string[]> {
  const warnings: string[] = [];
  const p = await Proxy.create({ upstream: 'unix:/nonexistent/qmp.sock', listen, log: createLogger('t', 'warn', (level, _tag, msg) => level === 'warn' && warnings.push(msg)) });
  await p.start();
  await p.stop();
  return warnings.filter((w) => w.includes('plain TCP'));
}

describe('listener warnings', () => {
  it('warns for tcp on a non-loopback address, naming it', async () => {
    const w = await warningsFor(['tcp:0.0.0.0:0']);
    assert.equal(w.length, 1);
    assert.match(w[0]!, /^plain TCP on a non-loopback address \(tcp:0\.0\.0\.0:\d+\): anyone who can reach it can use the monitor, unencrypted; prefer tls:0\.0\.0\.0:0 or a unix socket$/);
  });
  it('is quiet on loopback', async () => {
    assert.deepEqual(await warningsFor(['tcp:127.0.0.1:0', 'tcp:[::1]:0']), []);
  });
});
