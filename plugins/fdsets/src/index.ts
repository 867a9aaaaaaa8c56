/**
 * plugins/fdsets — file descriptors passed by many clients through one QEMU monitor.
 *
 * - **Names per client.** getfd names live in one list per QEMU monitor, and qmpmux is one monitor for
 *   all its clients. Every name a client uses (getfd, closefd, add_client, netdev/device/object fd
 *   arguments, SocketAddress of type fd, `fd:NAME` URIs — names.ts) is rewritten to
 *   `c<client id>.<epoch>-<name>` (tags.ts), and QEMU's texts that echo it are given back with the
 *   client's name. Names that start with a digit are QEMU fd numbers and pass unchanged. A client's
 *   remaining names are closed when it leaves.
 * - **Fd sets.** Each fd added with add-fd belongs to the client that added it; qmpmux records it from
 *   the reply and tags it in QEMU (add-fd's opaque). remove-fd of an fd the client did not add — or of
 *   a whole set holding such fds — is refused unless `allowForeignRemove`. A leaving client's fds are
 *   removed. query-fdsets shows QEMU's view, or only the client's own fds with `ownFdsetsOnly`.
 * - **Operators**: `__org.qmpmux_query-fd-owners` lists who holds which name and fd.
 *
 * Options: { "allowForeignRemove": false, "ownFdsetsOnly": false }. It comes after the policy plugin
 * (so refused commands never reach it) and before add-client-auth (so that one sees QEMU's names):
 * declared in `after`/`before` below and checked when the proxy starts.
 * README.md has the decisions and the deviations from a QEMU monitor with one client.
 */
import type { PluginDefinition } from '@qmpmux/core';
import { parseFdsetsOptions, type FdsetsOptions } from './options.ts';
import { createFdsetsPlugin, PLUGIN_NAME } from './plugin.ts';

export { parseFdsetsOptions, type FdsetsOptions } from './options.ts';
export { createFdsetsPlugin, type FdsetsPlugin } from './plugin.ts';
export { rewriteNames, restoreNames, isRawFdNumber, type NameRewrite } from './names.ts';
export { Tags, parseTag, type OpaqueTag } from './tags.ts';

export const fdsetsPlugin: PluginDefinition<FdsetsOptions> = {
  name: PLUGIN_NAME,
  after: ['policy'],
  before: ['add-client-auth'],
  validate: parseFdsetsOptions,
  create: (options, ctx) => createFdsetsPlugin(options, ctx),
};

export default fdsetsPlugin;
