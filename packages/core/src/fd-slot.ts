/**
 * A client's pending file descriptors, with QEMU's semantics: fds that arrive with a chunk replace the
 * previous ones when the parser reaches that chunk's first byte; the next fd-consuming command parsed
 * after that takes the first fd (the rest are closed, as QEMU closes them); a bundle nobody can take
 * any more is closed. Nothing is ever forwarded to another client's command.
 */
import { closeFds } from './upstream.ts';

export class FdBundle {
  /** Messages parsed while this bundle was current and not yet dispatched. */
  refs = 0;
  current = true;
  taken = false;
  constructor(public fds: number[]) {}
}

export class FdSlot {
  private bundle: FdBundle | undefined;
  private readonly live = new Set<FdBundle>();

  /** fds arrived with the chunk the parser has just reached. */
  replace(fds: number[]): void {
    if (this.bundle) {
      this.bundle.current = false;
      this.release(this.bundle, false);
    }
    this.bundle = new FdBundle(fds);
    this.live.add(this.bundle);
  }

  /** The bundle a message parsed now would take from (referenced until the message is dispatched). */
  attach(): FdBundle | undefined {
    if (!this.bundle) return undefined;
    this.bundle.refs++;
    return this.bundle;
  }

  /** Take the fds for a consumer: the first fd goes upstream, the others are closed (QEMU keeps one). */
  take(b: FdBundle | undefined): number[] | undefined {
    if (!b || b.taken || b.fds.length === 0) return undefined;
    b.taken = true;
    const [first, ...rest] = b.fds;
    closeFds(rest);
    b.fds = [];
    this.live.delete(b);
    if (this.bundle === b) this.bundle = undefined;
    return [first!];
  }

  /** A message that referenced `b` was dispatched or dropped. */
  release(b: FdBundle | undefined, deref = true): void {
    if (!b) return;
    if (deref) b.refs--;
    if (!b.current && b.refs <= 0 && !b.taken) {
      closeFds(b.fds);
      this.live.delete(b);
    }
  }

  /** The client left: close everything not yet handed on. */
  closeAll(): void {
    for (const b of this.live) if (!b.taken) closeFds(b.fds);
    this.live.clear();
    this.bundle = undefined;
  }

  /** fds currently held (the pending-fds gauge of the metrics). */
  get held(): number {
    let n = 0;
    for (const b of this.live) n += b.fds.length;
    return n;
  }
}
