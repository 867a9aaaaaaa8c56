/**
 * How qmpmux marks what it puts into QEMU on a client's behalf, so that it can find it again:
 *
 * - getfd names: `c<client id>.<epoch>-<name>`. Client ids never repeat within a qmpmux process and the
 *   epoch is random per plugin instance, so a name left in the monitor by an earlier qmpmux process
 *   (QEMU keeps getfd names for the monitor's next connection) can never be taken by a new client
 *   that happens to get the same id. The prefix starts with a letter (QEMU refuses names that start
 *   with a digit) and holds no `:` (netdev `fds` lists are colon-separated).
 * - add-fd's `opaque`: `qmpmux:<epoch>:<client id>`, followed by `:<opaque>` when the client gave one.
 *   QEMU keeps the opaque string with the fd and lists it in query-fdsets, so the owner of an fd can
 *   be read back from QEMU itself, even for an add-fd whose reply never reached its client (the client
 *   left while QEMU was executing it). qmpmux strips the tag from what clients see.
 */
import { randomBytes } from 'node:crypto';

export interface OpaqueTag {
  epoch: string;
  client: number;
  /** The client's own opaque string; undefined when it gave none. */
  opaque: string | undefined;
}

const TAG = /^qmpmux:([0-9a-z]+):([0-9]+)(?::([\s\S]*))?$/;

export function newEpoch(): string {
  return randomBytes(4).readUInt32BE(0).toString(36).padStart(7, '0');
}

export class Tags {
  constructor(readonly epoch: string = newEpoch()) {}

  upstreamName(client: number, name: string): string {
    return `c${client}.${this.epoch}-${name}`;
  }

  opaque(client: number, opaque: string | undefined): string {
    return `qmpmux:${this.epoch}:${client}${opaque === undefined ? '' : `:${opaque}`}`;
  }

  /** The client that added an fd, when this instance tagged it; undefined for anybody else's. */
  ownerOf(opaque: unknown): number | undefined {
    const t = parseTag(opaque);
    return t && t.epoch === this.epoch ? t.client : undefined;
  }
}

/** Read a tag written by any qmpmux instance; undefined when `opaque` is not one. */
export function parseTag(opaque: unknown): OpaqueTag | undefined {
  if (typeof opaque !== 'string') return undefined;
  const m = TAG.exec(opaque);
  if (!m) return undefined;
  const client = Number(m[2]);
  if (!Number.isSafeInteger(client)) return undefined;
  return { epoch: m[1]!, client, opaque: m[3] };
}
