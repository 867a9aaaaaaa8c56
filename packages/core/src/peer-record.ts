/**
 * A client's connection as a record, the one shape every plugin reports it in (query-clients,
 * query-fd-owners, audit records): transport, address, SO_PEERCRED of a unix peer, the subject of a
 * verified TLS client certificate. Never the bearer token.
 */
import type { OwnMembers } from './own-command.ts';
import type { Peer } from './types.ts';

export type PeerRecord = {
  transport: Peer['transport'];
  address: string;
  pid?: number;
  uid?: number;
  gid?: number;
  certificate?: string;
};

/** The members of a PeerRecord in QAPI notation, for own commands' `returns`. */
export const PEER_RECORD_TYPE = { transport: 'str', address: 'str', '*pid': 'int', '*uid': 'int', '*gid': 'int', '*certificate': 'str' } as const satisfies OwnMembers;

export function peerRecord(p: Peer): PeerRecord {
  const out: PeerRecord = { transport: p.transport, address: p.address };
  if (p.pid !== undefined) Object.assign(out, { pid: p.pid, uid: p.uid, gid: p.gid });
  if (p.certificate) out.certificate = p.certificate.subject;
  return out;
}
