/** tls: listeners — certificate descriptions and refusals of bad material (handshakes: plugins/policy and e2e tests). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listen } from '../src/index.ts';
import { formatSubject, parseSubjectAltNames } from '../src/tls.ts';

describe('tls: peer certificate description', () => {
  it('joins the multi-line subject in certificate order, escapes kept', () => {
    assert.equal(formatSubject('C=DE\nO=Example\\, Inc\nCN=ops'), 'C=DE,O=Example\\, Inc,CN=ops');
  });

  it('splits SANs, unquoting values Node quoted', () => {
    assert.deepEqual(parseSubjectAltNames('DNS:a.example, IP Address:10.0.0.1, URI:spiffe://x/y, email:a@b.c'), ['DNS:a.example', 'IP Address:10.0.0.1', 'URI:spiffe://x/y', 'email:a@b.c']);
    assert.deepEqual(parseSubjectAltNames('DNS:"a, b", URI:"x\\"y", DNS:c'), ['DNS:a, b', 'URI:x"y', 'DNS:c']);
    assert.deepEqual(parseSubjectAltNames(undefined), []);
  });
});

describe('tls: listener material', () => {
  const noop = () => {};
  it('refuses to open without a certificate and key', async () => {
    await assert.rejects(listen('tls:127.0.0.1:0', noop), /a tls listener needs a certificate and key/);
  });
  it('names the file it cannot read', async () => {
    await assert.rejects(listen('tls:127.0.0.1:0', noop, { tls: { cert: '/nonexistent/c.pem', key: '/nonexistent/k.pem' } }), /cannot read tls\.cert '\/nonexistent\/c\.pem'/);
  });
  it('refuses requireClientCert without a CA', async () => {
    await assert.rejects(listen('tls:127.0.0.1:0', noop, { tls: { cert: '/c', key: '/k', requireClientCert: true } }), /requireClientCert needs a ca/);
  });
});
