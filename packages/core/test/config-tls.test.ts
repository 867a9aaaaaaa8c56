/** The config file's "tls" section. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../src/index.ts';

const bad = (raw: unknown, path: string, re: RegExp) =>
  assert.throws(
    () => parseConfig(raw),
    (e: unknown) => e instanceof ConfigError && e.path === path && re.test(e.problem),
  );

describe('config: tls', () => {
  it('requires a client certificate by default when a client CA is given, and not otherwise', () => {
    assert.deepEqual(parseConfig({ tls: { cert: '/c.pem', key: '/k.pem', ca: '/ca.pem' } }).tls, { cert: '/c.pem', key: '/k.pem', ca: '/ca.pem', requireClientCert: true });
    assert.deepEqual(parseConfig({ tls: { cert: '/c.pem', key: '/k.pem' } }).tls, { cert: '/c.pem', key: '/k.pem', ca: undefined, requireClientCert: false });
    assert.equal(parseConfig({ tls: { cert: '/c.pem', key: '/k.pem', ca: '/ca.pem', requireClientCert: false } }).tls?.requireClientCert, false);
    assert.equal(parseConfig({}).tls, undefined);
  });

  it('names the bad field', () => {
    bad({ tls: { key: '/k.pem' } }, 'config.tls.cert', /non-empty string/);
    bad({ tls: { cert: '/c.pem' } }, 'config.tls.key', /non-empty string/);
    bad({ tls: { cert: '/c.pem', key: '/k.pem', ca: 5 } }, 'config.tls.ca', /non-empty string/);
    bad({ tls: { cert: '/c.pem', key: '/k.pem', requireClientCert: 'yes' } }, 'config.tls.requireClientCert', /true or false/);
    bad({ tls: { cert: '/c.pem', key: '/k.pem', requireClientCert: true } }, 'config.tls.requireClientCert', /needs tls\.ca/);
    bad({ tls: { cert: '/c.pem', key: '/k.pem', password: 'x' } }, 'config.tls.password', /unknown field/);
  });
});
