/** The plugin's options: defaults, and every bad one refused with a ConfigError naming its path. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@qmpmux/core';
import { DEFAULTS, validateOptions } from '../src/index.ts';

const P = 'plugins[0].options';

describe('nats plugin options', () => {
  it('defaults', () => {
    const o = validateOptions({}, P);
    assert.deepEqual(o.servers, ['nats://127.0.0.1:4222']);
    assert.equal(o.subjectPrefix, 'qmpmux');
    assert.deepEqual([o.eventsStream, o.auditStream, o.inventoryBucket], ['QMPMUX_EVENTS', 'QMPMUX_AUDIT', 'QMPMUX_VMS']);
    assert.equal(o.maxPendingPublish, 10_000);
    assert.equal(o.duplicateWindowMs, 120_000);
    assert.equal(o.ttl, 60);
    assert.equal(o.gatewayPrincipal, undefined);
    assert.equal(o.audit, undefined);
    assert.deepEqual(o.eventsRetention, { maxAgeMs: DEFAULTS.maxAgeMs, maxBytes: DEFAULTS.maxBytes, maxMsgs: -1 });
  });

  it('refuses each bad option, naming its path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qmpmux-nats-opt-'));
    try {
      const notCreds = join(dir, 'x.creds');
      writeFileSync(notCreds, 'hello');
      const cert = join(dir, 'c.pem');
      writeFileSync(cert, 'x');
      const cases: [unknown, string, RegExp][] = [
        [{ bogus: 1 }, `${P}.bogus`, /unknown field/],
        [{ servers: [] }, `${P}.servers`, /at least one/],
        [{ servers: ['http://x:1'] }, `${P}.servers[0]`, /nats:\/\/HOST:PORT/],
        [{ servers: ['nats://u:p@x:1'] }, `${P}.servers[0]`, /credentials do not go in the URL/],
        [{ user: 'u', token: { env: 'X' } }, `${P}.token`, /one way to authenticate/],
        [{ password: { env: 'X' } }, `${P}.password`, /needs user/],
        [{ user: 'u', password: 'inline' }, `${P}.password`, /expected an object/],
        [{ user: 'u', password: { env: 'QMPMUX_TEST_UNSET_VARIABLE' } }, `${P}.password.env`, /not set or empty/],
        [{ token: { file: join(dir, 'missing') } }, `${P}.token.file`, /cannot read/],
        [{ credsFile: notCreds }, `${P}.credsFile`, /not a NATS creds file/],
        [{ tls: { cert } }, `${P}.tls.key`, /cert and key go together/],
        [{ tls: { ca: join(dir, 'nope.pem') } }, `${P}.tls.ca`, /no such file/],
        [{ subjectPrefix: 'a.*' }, `${P}.subjectPrefix`, /no wildcards/],
        [{ eventsStream: 'A.B' }, `${P}.eventsStream`, /A-Z a-z 0-9 _ -/],
        [{ ttl: 0 }, `${P}.ttl`, /seconds from 1/],
        [{ maxPendingPublish: 1 }, `${P}.maxPendingPublish`, /integer from 2/],
        [{ duplicateWindowMs: 10 }, `${P}.duplicateWindowMs`, /integer from 1000/],
        [{ eventsRetention: { maxAge: 1 } }, `${P}.eventsRetention.maxAge`, /unknown field/],
        [{ gatewayPrincipal: 'a b' }, `${P}.gatewayPrincipal`, /principal name/],
        [{ audit: {} }, `${P}.audit.path`, /non-empty string/],
      ];
      for (const [raw, path, msg] of cases) {
        assert.throws(() => validateOptions(raw, P), (e: unknown) => e instanceof ConfigError && e.path === path && msg.test(e.problem), JSON.stringify(raw));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
