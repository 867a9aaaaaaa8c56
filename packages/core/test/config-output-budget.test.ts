/** limits.maxTotalClientOutputBytes in the config, and which budget a Proxy draws on. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, OutputBudget, Proxy, createLogger, parseConfig } from '../src/index.ts';

const quiet = createLogger('test', 'silent');

describe('limits.maxTotalClientOutputBytes', () => {
  it('is read from the config like every limit, and a bad value is named by its path', () => {
    assert.equal(parseConfig({ limits: { maxTotalClientOutputBytes: 1048576 } }).limits.maxTotalClientOutputBytes, 1048576);
    assert.equal(parseConfig({}).limits.maxTotalClientOutputBytes, undefined, 'absent: the default applies');
    assert.throws(
      () => parseConfig({ limits: { maxTotalClientOutputBytes: 0 } }),
      (e: unknown) => e instanceof ConfigError && /config\.limits\.maxTotalClientOutputBytes: expected an integer from 1/.test(e.message),
    );
  });

  it("a proxy without a shared budget gets its own, of its limit (or the default's 256 MiB)", async () => {
    const own = await Proxy.create({ upstream: 'unix:/nonexistent', listen: [], log: quiet, limits: { maxTotalClientOutputBytes: 5_000_000 } });
    assert.equal(own.outputBudget.limit, 5_000_000);
    const dflt = await Proxy.create({ upstream: 'unix:/nonexistent', listen: [], log: quiet });
    assert.equal(dflt.outputBudget.limit, 256 * 1024 * 1024);
    assert.notEqual(own.outputBudget, dflt.outputBudget, 'nothing process-wide unless given');
  });

  it('proxies given one budget all draw on it, whatever their own limits say', async () => {
    const shared = new OutputBudget(64 * 1024 * 1024);
    const [a, b] = await Promise.all(
      ['vm1', 'vm2'].map((name) => Proxy.create({ name, upstream: 'unix:/nonexistent', listen: [], log: quiet, outputBudget: shared, limits: { maxTotalClientOutputBytes: 1 } })),
    );
    assert.equal(a!.outputBudget, shared);
    assert.equal(b!.outputBudget, shared);
    assert.equal(shared.limit, 64 * 1024 * 1024);
  });
});
