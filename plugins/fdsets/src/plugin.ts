/** The fdsets plugin's hooks: see index.ts for what it does and README.md for the decisions. */
import { UpstreamLostError, answer, ownCommand, peerRecord, refuse, PEER_RECORD_TYPE, type ClientInfo, type CommandContext, type CommandVerdict, type JsonPlain, type Plugin, type PluginContext, type ReplyContext, type ReplyVerdict } from '@qmpmux/core';
import { ClientLedger, fdKey } from './ledger.ts';
import { restoreNames, rewriteNames } from './names.ts';
import type { FdsetsOptions } from './options.ts';
import { parseTag, Tags } from './tags.ts';

export const PLUGIN_NAME = 'fdsets';

/** What onCommand leaves for onReply (CommandContext.state). */
type Pending =
  | { kind: 'getfd' | 'closefd' | 'consumer'; names: string[]; pairs: [upstream: string, client: string][] }
  | { kind: 'add-fd'; opaque: string | undefined }
  | { kind: 'remove-fd'; fdsetId: number; fd: number | undefined }
  | { kind: 'query-fdsets' };

interface FdInfo {
  fd: number;
  opaque?: string;
}
interface FdsetInfo {
  'fdset-id': number;
  fds: FdInfo[];
}

/** The plugin, with a view of its bookkeeping for tests and diagnostics. */
export interface FdsetsPlugin extends Plugin<FdsetsOptions> {
  /** How much is held: clients with bookkeeping, names and fds over all clients. */
  held(): { clients: number; names: number; fds: number };
  /** The epoch in this instance's upstream names and opaque tags. */
  readonly epoch: string;
  /** Names whose cleanup waits for QEMU to be back (the link was down when their client left). */
  readonly orphans: number;
}

/** Names remembered for cleanup after a reconnect, at most. */
const MAX_ORPHAN_NAMES = 4096;

/** Who holds a name or an fd, in the owners query (QAPI-like, for query-qmp-schema). */
const OWNER_TYPE = { client: 'int', ...PEER_RECORD_TYPE, '*principal': 'str' } as const;

/** A QMP integer as a JS number (QEMU's fd and fdset ids fit), or undefined when it is not one. */
function int(v: JsonPlain | undefined): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
  return undefined;
}

const isFdsetList = (v: JsonPlain): v is FdsetInfo[] & JsonPlain[] =>
  Array.isArray(v) && v.every((s) => typeof s === 'object' && s !== null && !Array.isArray(s) && Array.isArray((s as Record<string, JsonPlain>).fds));

export function createFdsetsPlugin(initial: FdsetsOptions, ctx: PluginContext): FdsetsPlugin {
  let opts = initial;
  const log = ctx.log;
  const tags = new Tags();
  /** Bookkeeping per client id; an entry is added on a client's first fd command and removed when it leaves. */
  const ledgers = new Map<number, ClientLedger>();

  const connected = (c: ClientInfo) => ctx.proxy.clients.has(c.id);
  const ledgerOf = (c: ClientInfo): ClientLedger => {
    let l = ledgers.get(c.id);
    if (!l) ledgers.set(c.id, (l = new ClientLedger()));
    return l;
  };

  /**
   * Names of departed clients that could not be closed because the QEMU link was down. When the link
   * is back (the same QEMU still holds them; a restarted one does not, and closefd just fails), they
   * are closed then, and fd-set fds tagged by this instance whose client is gone are removed.
   */
  const orphanNames = new Set<string>();

  /** Run a cleanup command; failures are expected (a name QEMU took already) and only logged. */
  const quietly = async (command: string, args: Record<string, JsonPlain>): Promise<boolean> => {
    try {
      await ctx.proxy.execute(command, args);
      return true;
    } catch (e) {
      if (e instanceof UpstreamLostError && command === 'closefd' && orphanNames.size < MAX_ORPHAN_NAMES) orphanNames.add(String(args.fdname));
      log.debug(`cleanup: ${command} failed`, { arguments: args, error: (e as Error).message });
      return false;
    }
  };

  const sweepAfterReconnect = async (): Promise<void> => {
    const names = [...orphanNames];
    orphanNames.clear();
    for (const n of names) await quietly('closefd', { fdname: n });
    let removed = 0;
    try {
      for (const s of await querySets()) {
        for (const f of s.fds) {
          const owner = tags.ownerOf(f.opaque);
          if (owner !== undefined && !ctx.proxy.clients.has(owner) && (await quietly('remove-fd', { 'fdset-id': s['fdset-id'], fd: f.fd }))) removed++;
        }
      }
    } catch (e) {
      log.debug('sweep: query-fdsets failed', { error: (e as Error).message });
    }
    if (names.length || removed) log.info('after reconnect: cleaned up what departed clients left', { names: names.length, fds: removed });
  };
  const stateSub = ctx.proxy.upstreamState$.subscribe((st) => {
    if (st === 'ready') void sweepAfterReconnect();
  });

  const querySets = async (): Promise<FdsetInfo[]> => {
    const r = await ctx.proxy.execute('query-fdsets');
    if (!isFdsetList(r)) throw new Error('query-fdsets: unexpected reply');
    return r;
  };

  // ---- commands ------------------------------------------------------------------------------------

  function renameCommand(cmd: CommandContext): CommandVerdict | void {
    const id = cmd.client.id;
    const rw = rewriteNames(cmd.command, cmd.arguments, (n) => tags.upstreamName(id, n));
    if (!rw) return;
    const kind = cmd.command === 'getfd' ? 'getfd' : cmd.command === 'closefd' ? 'closefd' : 'consumer';
    const pairs = rw.names.map((n) => [tags.upstreamName(id, n), n] as [string, string]);
    if (kind === 'getfd') ledgerOf(cmd.client).getfdSent(rw.names[0]!, pairs[0]![0]);
    cmd.state.set(PLUGIN_NAME, { kind, names: rw.names, pairs } satisfies Pending);
    return { action: 'continue', arguments: rw.arguments };
  }

  function addFd(cmd: CommandContext): CommandVerdict | void {
    const args = cmd.arguments ?? {};
    const opaque = args.opaque;
    if (opaque !== undefined && typeof opaque !== 'string') return; // QEMU answers the type error
    ledgerOf(cmd.client).usedAddFd = true;
    cmd.state.set(PLUGIN_NAME, { kind: 'add-fd', opaque } satisfies Pending);
    return { action: 'continue', arguments: { ...args, opaque: tags.opaque(cmd.client.id, opaque) } };
  }

  async function removeFd(cmd: CommandContext): Promise<CommandVerdict | void> {
    const args = cmd.arguments ?? {};
    const fdsetId = int(args['fdset-id']);
    const fd = args.fd === undefined ? undefined : int(args.fd);
    if (fdsetId === undefined || (args.fd !== undefined && fd === undefined)) return; // QEMU answers the argument error
    cmd.state.set(PLUGIN_NAME, { kind: 'remove-fd', fdsetId, fd } satisfies Pending);
    if (opts.allowForeignRemove) return;
    const own = ledgers.get(cmd.client.id);
    if (fd !== undefined && own?.fds.has(fdKey(fdsetId, fd))) return; // recorded as this client's
    // QEMU's view decides: an fd nobody lists is QEMU's to report as not found, and an fd added
    // through this instance carries its owner in its opaque tag (also when the reply is still on its way).
    let sets: FdsetInfo[];
    try {
      sets = await querySets();
    } catch {
      return; // the link is gone: the command meets the same fate
    }
    const set = sets.find((s) => s['fdset-id'] === fdsetId);
    const listed = set ? (fd === undefined ? set.fds : set.fds.filter((f) => f.fd === fd)) : [];
    const foreign = listed.filter((f) => tags.ownerOf(f.opaque) !== cmd.client.id);
    if (!foreign.length) return;
    return fd !== undefined ? refuse('FD_NOT_OWNED', fd, fdsetId) : refuse('FDSET_FOREIGN', fdsetId, foreign.length);
  }

  function owners(): JsonPlain {
    const names: JsonPlain[] = [];
    const fds: JsonPlain[] = [];
    for (const [id, l] of ledgers) {
      const c = ctx.proxy.clients.get(id);
      if (!c) continue; // leaving: its cleanup is under way
      const who: Record<string, JsonPlain> = { client: id, ...peerRecord(c.peer) };
      if (c.principal !== undefined) who.principal = c.principal;
      for (const [name, e] of l.names) {
        if (e.defined || e.inflight) names.push({ ...who, name, 'upstream-name': e.upstream, state: e.defined ? 'defined' : 'pending' });
      }
      for (const f of l.fds.values()) {
        const entry: Record<string, JsonPlain> = { ...who, 'fdset-id': f.fdsetId, fd: f.fd };
        if (f.opaque !== undefined) entry.opaque = f.opaque;
        fds.push(entry);
      }
    }
    return { names, fds };
  }

  // ---- replies -------------------------------------------------------------------------------------

  function keepBooks(p: Pending, reply: ReplyContext, r: ReturnType<ReplyContext['result']>): void {
    const client = reply.command.client;
    const fromQemu = reply.source === 'qemu';
    const ok = 'return' in r;
    if (p.kind === 'remove-fd') {
      // Whoever asked (and whether still here), QEMU no longer has these fds: nobody owns them.
      if (fromQemu && ok) for (const l of ledgers.values()) l.fdRemoved(p.fdsetId, p.fd);
      return;
    }
    const l = ledgers.get(client.id);
    if (!connected(client) || !l) return; // left: its cleanup has run or is running
    switch (p.kind) {
      case 'getfd':
        return l.getfdDone(p.names[0]!, fromQemu && ok);
      case 'closefd':
        if (fromQemu) l.closed(p.names[0]!); // success, or QEMU's "not found": either way nothing is held
        return;
      case 'consumer':
        if (!fromQemu) return; // refused before QEMU saw it
        for (const [up, name] of p.pairs) {
          const absent = !ok && r.error.desc.includes(`File descriptor named '${up}' has not been found`);
          l.consumed(name, absent);
        }
        return;
      case 'add-fd': {
        if (!fromQemu || !ok) return;
        const ret = r.return as Record<string, JsonPlain> | null;
        const fd = int(ret?.fd);
        const fdsetId = int(ret?.['fdset-id']);
        if (fd !== undefined && fdsetId !== undefined) l.fdAdded(fdsetId, fd, p.opaque);
        return;
      }
    }
  }

  /** QEMU's fd sets as this client may see them: tags stripped; only its own fds with ownFdsetsOnly. */
  function viewOfSets(sets: FdsetInfo[], client: number): JsonPlain {
    const out: JsonPlain[] = [];
    for (const s of sets) {
      const fds: JsonPlain[] = [];
      for (const f of s.fds) {
        const tag = parseTag(f.opaque);
        if (opts.ownFdsetsOnly && !(tag && tag.epoch === tags.epoch && tag.client === client)) continue;
        if (!tag) fds.push(f as unknown as JsonPlain);
        else fds.push(tag.opaque === undefined ? { fd: f.fd } : { fd: f.fd, opaque: tag.opaque });
      }
      if (opts.ownFdsetsOnly && !fds.length) continue;
      out.push({ ...(s as unknown as Record<string, JsonPlain>), fds });
    }
    return out;
  }

  // ---- departure -----------------------------------------------------------------------------------

  async function cleanUp(client: ClientInfo, l: ClientLedger): Promise<void> {
    // Names: every name the client may still have in the monitor, including getfds still in flight
    // (QEMU runs them before these closefds, which are sent after them).
    for (const e of l.names.values()) await quietly('closefd', { fdname: e.upstream });
    if (!l.usedAddFd) return log.debug('departed client cleaned up', { client: client.id, names: l.names.size });
    // fds: QEMU's own list, by tag, so that an add-fd whose reply the client never saw is found too.
    let mine: { fdsetId: number; fd: number }[];
    try {
      mine = [];
      for (const s of await querySets()) for (const f of s.fds) if (tags.ownerOf(f.opaque) === client.id) mine.push({ fdsetId: s['fdset-id'], fd: f.fd });
    } catch (e) {
      log.warn('cleanup: query-fdsets failed; removing the recorded fds only', { client: client.id, error: (e as Error).message });
      mine = [...l.fds.values()];
    }
    for (const f of mine) await quietly('remove-fd', { 'fdset-id': f.fdsetId, fd: f.fd });
    log.debug('departed client cleaned up', { client: client.id, names: l.names.size, fds: mine.length });
  }

  return {
    name: PLUGIN_NAME,
    commands: [
      ownCommand({
        name: `${ctx.commandPrefix}query-fd-owners`,
        returns: {
          names: [{ ...OWNER_TYPE, name: 'str', 'upstream-name': 'str', state: 'str' }],
          fds: [{ ...OWNER_TYPE, 'fdset-id': 'int', fd: 'int', '*opaque': 'str' }],
        },
        run: async () => answer(owners()),
      }),
    ],
    epoch: tags.epoch,
    get orphans() {
      return orphanNames.size;
    },

    async close() {
      stateSub.unsubscribe();
    },

    held() {
      let names = 0;
      let fds = 0;
      for (const l of ledgers.values()) {
        names += l.names.size;
        fds += l.fds.size;
      }
      return { clients: ledgers.size, names, fds };
    },

    async reconfigure(next) {
      opts = next;
    },

    async onCommand(cmd) {
      if (!connected(cmd.client)) return; // it left: the command will never be sent
      if (cmd.oob) return; // no fd command allows exec-oob: QEMU refuses it unrun, with a text naming no fd
      switch (cmd.command) {
        case 'add-fd':
          return addFd(cmd);
        case 'remove-fd':
          return removeFd(cmd);
        case 'query-fdsets':
          cmd.state.set(PLUGIN_NAME, { kind: 'query-fdsets' } satisfies Pending);
          return;
        default:
          return renameCommand(cmd);
      }
    },

    async onReply(reply): Promise<ReplyVerdict | void> {
      const p = reply.command.state.get(PLUGIN_NAME) as Pending | undefined;
      if (!p) return;
      const r = reply.result();
      keepBooks(p, reply, r);
      if ('error' in r) {
        if (!('pairs' in p)) return;
        const desc = restoreNames(r.error.desc, p.pairs);
        return desc === r.error.desc ? undefined : { action: 'replace', error: { class: r.error.class, desc } };
      }
      if (p.kind === 'query-fdsets' && reply.source === 'qemu' && isFdsetList(r.return)) {
        return { action: 'replace', return: viewOfSets(r.return, reply.command.client.id) };
      }
    },

    async onClientDisconnect(client) {
      const l = ledgers.get(client.id);
      if (!l) return;
      try {
        await cleanUp(client, l);
      } finally {
        ledgers.delete(client.id);
      }
    },
  };
}
