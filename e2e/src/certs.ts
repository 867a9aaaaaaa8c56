/**
 * Certificates generated at test time with the `openssl` CLI: a CA, a server certificate for
 * 127.0.0.1/localhost, client certificates with a chosen subject and SANs, and a second, untrusted CA.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCa {
  dir: string;
  /** PEM paths. */
  cert: string;
  key: string;
  /** Issue a certificate signed by this CA; returns its PEM paths. */
  issue(name: string, opts: { subject: string; san?: string[]; server?: boolean }): { cert: string; key: string };
}

let checked = false;
function openssl(args: string[], cwd: string): void {
  if (!checked) {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
    } catch {
      throw new Error('the TLS tests need the openssl command (Debian: apt-get install openssl)');
    }
    checked = true;
  }
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A fresh CA in `dir` (created). `subject` like `/CN=qmpmux test CA`. */
export function makeTestCa(dir: string, subject = '/CN=qmpmux test CA'): TestCa {
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, 'ca.pem');
  const key = join(dir, 'ca-key.pem');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', subject, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  let serial = 1;
  return {
    dir,
    cert,
    key,
    issue(name, opts) {
      const out = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}-key.pem`) };
      const csr = join(dir, `${name}.csr`);
      const ext = join(dir, `${name}.ext`);
      const lines = ['basicConstraints=CA:FALSE', `extendedKeyUsage=${opts.server ? 'serverAuth' : 'clientAuth'}`];
      if (opts.san?.length) lines.push(`subjectAltName=${opts.san.join(',')}`);
      writeFileSync(ext, lines.join('\n') + '\n');
      openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', out.key, '-out', csr, '-subj', opts.subject], dir);
      openssl(['x509', '-req', '-in', csr, '-CA', cert, '-CAkey', key, '-set_serial', String(serial++), '-days', '2', '-extfile', ext, '-out', out.cert], dir);
      return out;
    },
  };
}
