/** The WebSocket upgrade checks, as pure functions of URL and headers (no sockets). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkHandshake, decodeTokenEntry, encodeTokenEntry, normalizeOrigin, originAllowed, type HandshakeRules } from '../src/ws-handshake.ts';

const rules: HandshakeRules = { path: '/qmp', secure: false, origins: undefined, tokenSubprotocol: true };
const host = '127.0.0.1:4500';

describe('WebSocket handshake checks', () => {
  it('takes no subprotocol as qmp.json and echoes none', () => {
    assert.deepEqual(checkHandshake('/qmp', { host }, rules), { ok: true, mode: 'json', protocol: undefined, token: undefined });
  });

  it('selects the first of qmp.json / qmp.msgpack in the client order and ignores unknown entries', () => {
    const hs = checkHandshake('/qmp?x=1', { host, 'sec-websocket-protocol': 'binary, qmp.msgpack, qmp.json' }, rules);
    assert.deepEqual(hs, { ok: true, mode: 'msgpack', protocol: 'qmp.msgpack', token: undefined });
    const hs2 = checkHandshake('/qmp', { host, 'sec-websocket-protocol': 'qmp.json,qmp.msgpack' }, rules);
    assert.equal(hs2.ok && hs2.protocol, 'qmp.json');
  });

  it('refuses another path with 404', () => {
    assert.deepEqual(checkHandshake('/other', { host }, rules), { ok: false, status: 404, reason: 'no WebSocket endpoint at this path' });
    assert.equal(checkHandshake('/qmp/', { host }, rules).ok, false);
  });

  it('reads a bearer token from the Authorization header', () => {
    const hs = checkHandshake('/qmp', { host, authorization: 'Bearer s3cret-t0ken' }, rules);
    assert.equal(hs.ok && hs.token, 's3cret-t0ken');
    assert.equal(checkHandshake('/qmp', { host, authorization: 'bearer   abc  ' }, rules).ok && 'abc', 'abc');
    const bad = checkHandshake('/qmp', { host, authorization: 'Bearer two words' }, rules);
    assert.equal(bad.ok, false);
    const basic = checkHandshake('/qmp', { host, authorization: 'Basic dXNlcjpwYXNz' }, rules);
    assert.equal(basic.ok && basic.token, undefined, 'another scheme is not a bearer token');
  });

  it('reads a token from a qmp.token.<base64url> entry and never selects that entry', () => {
    const token = 'ünïcode token/with+symbols=';
    const entry = encodeTokenEntry(token);
    assert.match(entry, /^qmp\.token\.[A-Za-z0-9_-]+$/);
    const hs = checkHandshake('/qmp', { host, 'sec-websocket-protocol': `${entry}, qmp.json` }, rules);
    assert.deepEqual(hs, { ok: true, mode: 'json', protocol: 'qmp.json', token });
    const only = checkHandshake('/qmp', { host, 'sec-websocket-protocol': entry }, rules);
    assert.deepEqual(only, { ok: true, mode: 'json', protocol: undefined, token });
  });

  it('ignores token entries when tokenSubprotocol is off', () => {
    const hs = checkHandshake('/qmp', { host, 'sec-websocket-protocol': `${encodeTokenEntry('x')}, qmp.json` }, { ...rules, tokenSubprotocol: false });
    assert.deepEqual(hs, { ok: true, mode: 'json', protocol: 'qmp.json', token: undefined });
  });

  it('refuses bad, repeated or conflicting token entries with 400, without the token in the reason', () => {
    const cases = [
      'qmp.token.not*base64',
      'qmp.token.',
      'qmp.token.A',
      `${encodeTokenEntry('a')}, ${encodeTokenEntry('b')}`,
      `qmp.token.${Buffer.from([0xff, 0xfe]).toString('base64url')}`,
    ];
    for (const p of cases) {
      const hs = checkHandshake('/qmp', { host, 'sec-websocket-protocol': p }, rules);
      assert.equal(hs.ok, false, p);
      assert.equal(!hs.ok && hs.status, 400, p);
    }
    const conflict = checkHandshake('/qmp', { host, authorization: 'Bearer alpha', 'sec-websocket-protocol': encodeTokenEntry('beta') }, rules);
    assert.ok(!conflict.ok && conflict.status === 400 && !conflict.reason.includes('alpha') && !conflict.reason.includes('beta'));
    const same = checkHandshake('/qmp', { host, authorization: 'Bearer alpha', 'sec-websocket-protocol': encodeTokenEntry('alpha') }, rules);
    assert.equal(same.ok && same.token, 'alpha');
  });

  it('decodes only clean base64url of UTF-8', () => {
    assert.equal(decodeTokenEntry(encodeTokenEntry('tok')), 'tok');
    assert.equal(decodeTokenEntry('qmp.token.dG9r'), 'tok');
    assert.equal(decodeTokenEntry('qmp.token.dG9r=='), undefined, 'padding is not base64url');
    assert.equal(decodeTokenEntry('qmp.token.dG9+'), undefined);
  });
});

describe('Origin checks', () => {
  it('lets a handshake without Origin through (not a browser)', () => {
    assert.equal(originAllowed(undefined, host, undefined, false), true);
    assert.equal(originAllowed(undefined, host, ['https://a.example'], false), true);
  });

  it('allows only the same origin by default', () => {
    assert.equal(originAllowed('http://127.0.0.1:4500', host, undefined, false), true);
    assert.equal(originAllowed('https://127.0.0.1:4500', host, undefined, true), true);
    assert.equal(originAllowed('http://127.0.0.1:4500', host, undefined, true), false, 'an http page on a wss listener is another origin');
    assert.equal(originAllowed('https://localhost', 'localhost', undefined, false), false, 'scheme differs');
    assert.equal(originAllowed('http://localhost', 'localhost:80', undefined, false), true, 'default port written or not');
    assert.equal(originAllowed('http://127.0.0.1:4501', host, undefined, false), false);
    assert.equal(originAllowed('https://evil.example', host, undefined, false), false);
    assert.equal(originAllowed('null', host, undefined, false), false);
  });

  it('allows exactly the listed origins, or any with *', () => {
    const list = ['https://ops.example', 'http://127.0.0.1:8080'];
    assert.equal(originAllowed('https://ops.example', host, list, false), true);
    assert.equal(originAllowed('https://OPS.example:443', host, list, false), true, 'normalised like a browser sends it');
    assert.equal(originAllowed('https://ops.example.evil', host, list, false), false);
    assert.equal(originAllowed('http://127.0.0.1:4500', host, list, false), false, 'a list replaces the same-origin rule');
    assert.equal(originAllowed('https://anything', host, ['*'], false), true);
    assert.equal(checkHandshake('/qmp', { host, origin: 'https://evil.example' }, { ...rules, origins: list }).ok, false);
    const refused = checkHandshake('/qmp', { host, origin: 'https://evil.example' }, rules);
    assert.deepEqual(refused, { ok: false, status: 403, reason: 'origin not allowed' });
  });

  it('normalises configured origins and rejects what is not an origin', () => {
    assert.equal(normalizeOrigin('HTTPS://Ops.Example:443/'), 'https://ops.example');
    assert.equal(normalizeOrigin('http://h:8080'), 'http://h:8080');
    assert.equal(normalizeOrigin('null'), 'null');
    assert.equal(normalizeOrigin('https://h/path'), undefined);
    assert.equal(normalizeOrigin('ops.example'), undefined);
  });
});
