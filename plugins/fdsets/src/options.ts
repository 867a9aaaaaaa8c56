/** Options of the fdsets plugin. */
import { validate as v } from '@qmpmux/core';

export interface FdsetsOptions {
  /** remove-fd may remove fds other clients added (and fds qmpmux did not see being added). Default false. */
  allowForeignRemove: boolean;
  /** query-fdsets lists only the asking client's own fds (and only the sets that hold some). Default false: QEMU's view. */
  ownFdsetsOnly: boolean;
}

export function parseFdsetsOptions(options: unknown, path: string): FdsetsOptions {
  const o = v.object(options ?? {}, path, ['allowForeignRemove', 'ownFdsetsOnly']);
  return {
    allowForeignRemove: v.bool(o.allowForeignRemove, `${path}.allowForeignRemove`, false),
    ownFdsetsOnly: v.bool(o.ownFdsetsOnly, `${path}.ownFdsetsOnly`, false),
  };
}
