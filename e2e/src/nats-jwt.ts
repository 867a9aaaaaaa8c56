/**
 * NATS decentralized (JWT) authentication set up at test time, without the `nsc` tool: an operator, its
 * system account and one account with JetStream, their nkeys (`@nats-io/nkeys`) and JWTs, the
 * nats-server configuration that trusts them (`operator`, `system_account`, `resolver: MEMORY`,
 * `resolver_preload`), and users' creds files.
 *
 * A NATS JWT is `base64url(header).base64url(claims).base64url(ed25519 signature of the first two)`,
 * header `{"typ":"JWT","alg":"ed25519-nkey"}`, claims as the nats-io/jwt v2 schema has them: the
 * standard `jti iat iss name sub` and a `nats` object with the claim's `type`, `version: 2` and its
 * own fields (an account's `limits`, a user's permissions and limits).
 */
import { createHash } from 'node:crypto';
import { createAccount, createOperator, createUser, type KeyPair } from '@nats-io/nkeys';

/** -1: no limit (nats-io/jwt's NoLimit). */
const NO_LIMIT = -1;

const b64url = (b: Uint8Array | string) => Buffer.from(b).toString('base64url');

/** Sign `nats` claims about `subject` with `issuer`: a NATS v2 JWT. */
function encodeNatsJwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const base = { iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub: subject };
  // jti: an id of the claims (nats-io/jwt takes a SHA-512/256 of them, in base32; the server does not check it).
  const jti = createHash('sha512-256').update(JSON.stringify(base)).digest('hex').toUpperCase();
  const claims = { jti, ...base, nats: { ...nats, version: 2 } };
  const signed = `${b64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }))}.${b64url(JSON.stringify(claims))}`;
  return `${signed}.${b64url(issuer.sign(Buffer.from(signed)))}`;
}

/** A creds file's text: the user's JWT and nkey seed, in the standard armour. */
function credsFileText(jwt: string, seed: Uint8Array | string): string {
  return [
    '-----BEGIN NATS USER JWT-----',
    jwt,
    '------END NATS USER JWT------',
    '',
    '************************* IMPORTANT *************************',
    'NKEY Seed printed below can be used to sign and prove identity.',
    'NKEYs are sensitive and should be treated as secrets.',
    '',
    '-----BEGIN USER NKEY SEED-----',
    Buffer.from(seed).toString(),
    '------END USER NKEY SEED------',
    '',
    '*************************************************************',
    '',
  ].join('\n');
}

const ACCOUNT_LIMITS = { subs: NO_LIMIT, data: NO_LIMIT, payload: NO_LIMIT, imports: NO_LIMIT, exports: NO_LIMIT, wildcards: true, conn: NO_LIMIT, leaf: NO_LIMIT };

export interface NatsOperator {
  /** The public keys of the operator, its system account and its account. */
  readonly operator: string;
  readonly systemAccount: string;
  readonly account: string;
  /** nats-server configuration lines that trust this operator and know its two accounts. */
  readonly serverConfig: string;
  /** A new user of the (JetStream) account: the text of its creds file. */
  userCreds(name: string): string;
}

/** A fresh operator with a system account and one account with JetStream, no limits (`jetstream: false`: without JetStream). */
export function makeNatsOperator(name = 'qmpmux-test', opts: { jetstream?: boolean } = {}): NatsOperator {
  const op = createOperator();
  const sys = createAccount();
  const acc = createAccount();
  const operatorJwt = encodeNatsJwt(op, op.getPublicKey(), name, { type: 'operator', system_account: sys.getPublicKey() });
  const sysJwt = encodeNatsJwt(op, sys.getPublicKey(), 'SYS', { type: 'account', limits: ACCOUNT_LIMITS });
  const jetstream = { mem_storage: NO_LIMIT, disk_storage: NO_LIMIT, streams: NO_LIMIT, consumer: NO_LIMIT };
  const accJwt = encodeNatsJwt(op, acc.getPublicKey(), 'QMPMUX', { type: 'account', limits: { ...ACCOUNT_LIMITS, ...(opts.jetstream === false ? {} : jetstream) } });
  return {
    operator: op.getPublicKey(),
    systemAccount: sys.getPublicKey(),
    account: acc.getPublicKey(),
    serverConfig: [
      `operator: ${operatorJwt}`,
      `system_account: ${sys.getPublicKey()}`,
      'resolver: MEMORY',
      'resolver_preload: {',
      `  ${sys.getPublicKey()}: ${sysJwt}`,
      `  ${acc.getPublicKey()}: ${accJwt}`,
      '}',
      '',
    ].join('\n'),
    userCreds(userName) {
      const user = createUser();
      const jwt = encodeNatsJwt(acc, user.getPublicKey(), userName, { type: 'user', pub: {}, sub: {}, subs: NO_LIMIT, data: NO_LIMIT, payload: NO_LIMIT });
      return credsFileText(jwt, user.getSeed());
    },
  };
}
