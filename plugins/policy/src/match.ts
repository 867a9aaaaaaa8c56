/**
 * Who a connection is: criteria over a Peer. A match entry holds one or more criteria, all of which must
 * hold; a principal matches when any of its entries does.
 *
 * - unix peers (SO_PEERCRED): `uid`, `gid` (the peer process's effective gid), `user` (name → uid),
 *   `group` (name: the peer's gid is the group's, or the peer's user is listed as a member of it in the
 *   group database — SO_PEERCRED carries no supplementary groups).
 * - TLS peers, only with a certificate that verified: `cn` (any CN of the subject), `san` (`DNS:x`,
 *   `IP Address:x` or `IP:x`, `URI:x`, `email:x`; or a bare value matching any SAN's value), `subject`
 *   (the whole subject as Peer.certificate.subject spells it), `fingerprint256` (colons and case ignored).
 * - `token`: a bearer token the transport read (WebSocket), compared in constant time with a secret
 *   read from a file or an environment variable when the configuration is loaded.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Peer } from '@qmpmux/core';

export interface Criterion {
  /** For logs: `uid 1000`, `cn "ops"`, `token from file /etc/…` (never the secret). */
  readonly what: string;
  test(peer: Peer): boolean;
}

export const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export function uidIs(uid: number, what = `uid ${uid}`): Criterion {
  return { what, test: (p) => p.transport === 'unix' && p.uid === uid };
}

export function gidIs(gid: number): Criterion {
  return { what: `gid ${gid}`, test: (p) => p.transport === 'unix' && p.gid === gid };
}

export function inGroup(name: string, gid: number, memberUids: ReadonlySet<number>): Criterion {
  return { what: `group ${name}`, test: (p) => p.transport === 'unix' && (p.gid === gid || (p.uid !== undefined && memberUids.has(p.uid))) };
}

/** The values of one attribute type (e.g. CN) in a subject as Peer.certificate.subject spells it (RFC 4514 escaping). */
export function subjectAttributes(subject: string, type: string): string[] {
  const out: string[] = [];
  for (const rdn of splitUnescaped(subject, ',')) {
    for (const ava of splitUnescaped(rdn, '+')) {
      const eq = ava.indexOf('=');
      if (eq > 0 && ava.slice(0, eq).trim().toUpperCase() === type.toUpperCase()) out.push(unescapeValue(ava.slice(eq + 1)));
    }
  }
  return out;
}

function splitUnescaped(s: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && i + 1 < s.length) {
      cur += s[i]! + s[i + 1]!;
      i++;
    } else if (s[i] === sep) {
      parts.push(cur);
      cur = '';
    } else cur += s[i];
  }
  parts.push(cur);
  return parts;
}

/** `\,` → `,`; `\HH` hex pairs → bytes (UTF-8). */
function unescapeValue(v: string): string {
  const bytes: number[] = [];
  const buf = Buffer.from(v, 'utf8');
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] === 0x5c && i + 1 < buf.length) {
      const hex = buf.subarray(i + 1, i + 3).toString('latin1');
      if (/^[0-9a-fA-F]{2}$/.test(hex)) {
        bytes.push(parseInt(hex, 16));
        i += 2;
      } else {
        bytes.push(buf[i + 1]!);
        i += 1;
      }
    } else bytes.push(buf[i]!);
  }
  return Buffer.from(bytes).toString('utf8');
}

export function cnIs(cn: string): Criterion {
  return { what: `cn ${JSON.stringify(cn)}`, test: (p) => !!p.certificate && subjectAttributes(p.certificate.subject, 'CN').includes(cn) };
}

export function subjectIs(subject: string): Criterion {
  return { what: `subject ${JSON.stringify(subject)}`, test: (p) => p.certificate?.subject === subject };
}

const SAN_TYPES = /^(DNS|IP Address|IP|URI|email):/;

export function sanIs(san: string): Criterion {
  const typed = SAN_TYPES.test(san);
  const want = san.replace(/^IP:/, 'IP Address:');
  return {
    what: `san ${JSON.stringify(san)}`,
    test: (p) => !!p.certificate && p.certificate.subjectAltNames.some((s) => (typed ? s === want : s.slice(s.indexOf(':') + 1) === san)),
  };
}

const normFingerprint = (f: string) => f.replace(/:/g, '').toUpperCase();

export function fingerprintIs(f: string): Criterion {
  const want = normFingerprint(f);
  return { what: `fingerprint256 ${f}`, test: (p) => !!p.certificate && normFingerprint(p.certificate.fingerprint256) === want };
}

/**
 * The secret is kept only as its SHA-256; the presented token is hashed and the two digests compared
 * with timingSafeEqual, so neither the content nor the length of the secret shows in the timing.
 */
export function tokenIs(digest: Buffer, source: string): Criterion {
  return {
    what: `token from ${source}`,
    test: (p) => p.token !== undefined && timingSafeEqual(sha256(p.token), digest),
  };
}

/** A connection described for a refusal message or a log line (never a token). */
export function describePeer(p: Peer): string {
  switch (p.transport) {
    case 'virtual':
      return `virtual client via ${p.virtual?.via ?? '?'} as principal '${p.virtual?.principal ?? '?'}'`;
    case 'unix':
      return `unix peer uid ${p.uid} gid ${p.gid}`;
    case 'tls':
    case 'wss':
    case 'ws':
    case 'tcp': {
      const parts = [`${p.transport} peer ${p.address}`];
      if (p.transport === 'tls' || p.transport === 'wss') parts.push(p.certificate ? `certificate ${p.certificate.subject}` : 'no client certificate');
      if (p.transport === 'ws' || p.transport === 'wss') parts.push(p.token === undefined ? 'no token' : 'a token that matches no principal');
      return parts.join(', ');
    }
  }
}
