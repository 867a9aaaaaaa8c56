/**
 * Where QEMU reads a getfd name in a command's arguments, and the rewrite of every such place. Pure:
 * no state, no I/O (the plugin decides what a name becomes).
 *
 * A name is looked up in the monitor's getfd list by:
 * - getfd / closefd / add_client: `fdname`;
 * - netdev_add: `fd`, `vhostfd` (tap, socket, vhost-vdpa) and the colon-separated lists `fds`,
 *   `vhostfds` (tap) and `sock-fds` (af-xdp);
 * - device_add: `fd` (vfio-pci), `vhostfd` (vhost-vsock, vhost-scsi); object-add: `fd` (iommufd);
 * - migrate / migrate-incoming `uri` and dump-guest-memory `protocol` of the form `fd:NAME`;
 * - a SocketAddress of type fd anywhere in any command's arguments: `{"type": "fd", "str": NAME}`
 *   (blockdev-add nbd `server`, netdev stream/dgram, migrate `channels`) or its legacy form
 *   `{"type": "fd", "data": {"str": NAME}}` (chardev-add socket `addr`, nbd-server-start `addr`).
 *
 * A name that starts with a digit is a raw QEMU fd number where QEMU accepts one, and is never a getfd
 * name (getfd refuses such names): it passes unchanged. Anything that is not a string passes unchanged
 * too, so that QEMU answers the type error itself.
 */
import type { JsonPlain } from '@qmpmux/core';

type Obj = { [k: string]: JsonPlain };

/** Top-level arguments holding one name, per command. */
const SINGLE: Readonly<Record<string, readonly string[]>> = {
  getfd: ['fdname'],
  closefd: ['fdname'],
  add_client: ['fdname'],
  netdev_add: ['fd', 'vhostfd'],
  device_add: ['fd', 'vhostfd'],
  'object-add': ['fd'],
};

/** Top-level arguments holding a colon-separated list of names. */
const LISTS: Readonly<Record<string, readonly string[]>> = {
  netdev_add: ['fds', 'vhostfds', 'sock-fds'],
};

/** Top-level arguments of the form `fd:NAME` (other forms, such as `tcp:…` or `file:…`, hold no name). */
const URIS: Readonly<Record<string, string>> = {
  migrate: 'uri',
  'migrate-incoming': 'uri',
  'dump-guest-memory': 'protocol',
};

/** Names that start with a digit are QEMU fd numbers, never getfd names. */
export const isRawFdNumber = (name: string): boolean => name.length > 0 && name.charCodeAt(0) >= 0x30 && name.charCodeAt(0) <= 0x39;

export interface NameRewrite {
  /** The arguments with every name rewritten (a copy; the input is never changed). */
  arguments: Record<string, JsonPlain>;
  /** The client's names that were rewritten, each once. */
  names: string[];
}

/**
 * Rewrite every getfd name in `args` with `rename`. Returns undefined when the command uses no name
 * that needs rewriting (nothing to change).
 */
export function rewriteNames(command: string, args: Record<string, JsonPlain> | undefined, rename: (name: string) => string): NameRewrite | undefined {
  if (!args) return undefined;
  const names: string[] = [];
  const one = (name: string): string => {
    if (isRawFdNumber(name)) return name;
    if (!names.includes(name)) names.push(name);
    return rename(name);
  };
  let out: Obj = args;
  const set = (key: string, value: JsonPlain) => {
    if (out === args) out = { ...args };
    out[key] = value;
  };
  for (const key of SINGLE[command] ?? []) {
    const v = args[key];
    if (typeof v === 'string') set(key, one(v));
  }
  for (const key of LISTS[command] ?? []) {
    const v = args[key];
    if (typeof v === 'string') set(key, v.split(':').map(one).join(':'));
  }
  const uriKey = URIS[command];
  if (uriKey !== undefined) {
    const v = args[uriKey];
    if (typeof v === 'string' && v.startsWith('fd:')) set(uriKey, `fd:${one(v.slice(3))}`);
  }
  const walked = walk(out, one) as Obj;
  if (!names.length) return undefined;
  return { arguments: walked, names };
}

const isObj = (v: JsonPlain | undefined): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Rewrite SocketAddress-shaped objects of type fd, copying only what changes. */
function walk(v: JsonPlain, one: (name: string) => string): JsonPlain {
  if (Array.isArray(v)) {
    let copy: JsonPlain[] | undefined;
    v.forEach((item, i) => {
      const w = walk(item, one);
      if (w !== item) (copy ??= [...v])[i] = w;
    });
    return copy ?? v;
  }
  if (!isObj(v)) return v;
  let copy: Obj | undefined;
  if (v.type === 'fd') {
    if (typeof v.str === 'string') (copy ??= { ...v }).str = one(v.str);
    else if (isObj(v.data) && typeof v.data.str === 'string') (copy ??= { ...v }).data = { ...v.data, str: one(v.data.str) };
  }
  for (const [k, item] of Object.entries(copy ?? v)) {
    const w = walk(item, one);
    if (w !== item) (copy ??= { ...v })[k] = w;
  }
  return copy ?? v;
}

/** Put the client's names back into a text from QEMU (an error description that echoes a name). */
export function restoreNames(text: string, pairs: readonly (readonly [upstream: string, client: string])[]): string {
  let out = text;
  // Longest first, so that no upstream name is replaced inside a longer one.
  for (const [up, client] of [...pairs].sort((a, b) => b[0].length - a[0].length)) out = out.split(up).join(client);
  return out;
}
