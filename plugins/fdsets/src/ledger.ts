/**
 * One client's bookkeeping: the getfd names it holds in QEMU's monitor and the fd-set fds it added.
 * Every change follows a reply from QEMU (QEMU decides what happened), except that a getfd is counted
 * as in flight from the moment it is sent, so that a client leaving before the reply still gets its
 * name closed.
 */

export interface NameEntry {
  /** The name QEMU knows it by. */
  readonly upstream: string;
  /** QEMU holds an fd under this name: a getfd succeeded and nothing has taken the name since. */
  defined: boolean;
  /** getfd commands for this name sent to QEMU and not answered yet. */
  inflight: number;
  /**
   * A consumer used the name. QEMU's consumers take the name, even when the command then fails — but
   * not when it fails before the lookup (an argument error, a duplicate id), and QEMU 7.2's stream
   * netdev answers {} without looking the name up at all. So QEMU may still hold it: it is closed, best
   * effort, when the client leaves (at most MAX_TRACKED_NAMES such names per client, oldest forgotten).
   */
  maybeHeld: boolean;
}

export interface OwnedFd {
  readonly fdsetId: number;
  readonly fd: number;
  /** The client's opaque string, when it gave one. */
  readonly opaque: string | undefined;
}

/** Names a client may have used and QEMU may still hold, beyond those it holds for sure. */
export const MAX_TRACKED_NAMES = 1024;

export const fdKey = (fdsetId: number, fd: number): string => `${fdsetId}:${fd}`;

export class ClientLedger {
  readonly names = new Map<string, NameEntry>();
  readonly fds = new Map<string, OwnedFd>();
  /** The client sent add-fd: when it leaves, QEMU's fd sets are searched for fds tagged with its id. */
  usedAddFd = false;

  /** A getfd for `name` goes to QEMU. */
  getfdSent(name: string, upstream: string): void {
    const e = this.names.get(name);
    if (e) e.inflight++;
    else this.names.set(name, { upstream, defined: false, inflight: 1, maybeHeld: false });
  }

  /** QEMU (or a plugin, `ok` false) answered a getfd. A failed getfd leaves an earlier fd of that name in place. */
  getfdDone(name: string, ok: boolean): void {
    const e = this.names.get(name);
    if (!e) return;
    e.inflight = Math.max(0, e.inflight - 1);
    if (ok) {
      e.defined = true;
      e.maybeHeld = false;
    }
    this.prune(name, e);
  }

  /** QEMU answered a closefd: either way, QEMU holds no fd under this name any more. */
  closed(name: string): void {
    const e = this.names.get(name);
    if (!e) return;
    e.defined = false;
    e.maybeHeld = false;
    this.prune(name, e);
  }

  /**
   * QEMU answered a command that takes the name: QEMU's own bookkeeping no longer lists it as held,
   * but it may still hold it (see maybeHeld) unless it reported the name as not found (`absent`).
   */
  consumed(name: string, absent: boolean): void {
    const e = this.names.get(name);
    if (!e) return;
    e.defined = false;
    e.maybeHeld = !absent;
    this.prune(name, e);
    this.evict();
  }

  fdAdded(fdsetId: number, fd: number, opaque: string | undefined): void {
    this.fds.set(fdKey(fdsetId, fd), { fdsetId, fd, opaque });
  }

  /** QEMU removed one fd (`fd` given) or a whole set. */
  fdRemoved(fdsetId: number, fd: number | undefined): void {
    if (fd !== undefined) this.fds.delete(fdKey(fdsetId, fd));
    else for (const [k, f] of this.fds) if (f.fdsetId === fdsetId) this.fds.delete(k);
  }

  /** Forget the oldest names QEMU only may hold, beyond the limit (QEMU almost surely took them). */
  private evict(): void {
    if (this.names.size <= MAX_TRACKED_NAMES) return;
    for (const [n, e] of this.names) {
      if (this.names.size <= MAX_TRACKED_NAMES) return;
      if (!e.defined && e.inflight === 0) this.names.delete(n);
    }
  }

  private prune(name: string, e: NameEntry): void {
    if (!e.defined && e.inflight === 0 && !e.maybeHeld) this.names.delete(name);
  }
}
