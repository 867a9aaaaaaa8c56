/**
 * The process-wide bound on client output (`maxTotalClientOutputBytes`): what every client's output
 * queue holds, all clients of all VMs together. One budget per process, shared by every Proxy in it.
 *
 * Each client has an account holding its queue's size (`Conn.writableLength`), set after each write
 * and each time queued output went out. Setting it is O(1): the fast path is two additions and a
 * comparison. Only when the total goes over the bound are the accounts looked at — largest first —
 * and those clients disconnected (each through its own `evict`) until the total is back under it.
 */
import { DEFAULT_LIMITS } from './limits.ts';

/** One client's share of the budget. */
export interface OutputAccount {
  /** What this client's output queue holds, as last set. */
  readonly bytes: number;
  /** The queue now holds `bytes`; over the budget, the largest clients (maybe this one) are disconnected. */
  set(bytes: number): void;
  /** The client went: its bytes leave the budget, and its entry with them. Idempotent. */
  close(): void;
}

class Account implements OutputAccount {
  bytes = 0;
  open = true;
  constructor(
    private readonly moved: (d: number) => void,
    private readonly closed: (a: Account) => void,
    readonly evict: () => void,
  ) {}

  set(bytes: number): void {
    const d = bytes - this.bytes;
    if (d === 0 || !this.open) return;
    this.bytes = bytes;
    this.moved(d);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.closed(this);
  }
}

export class OutputBudget {
  private readonly accounts = new Set<Account>();
  private sum = 0;
  private bound: number;
  private evicting = false;

  /** @param limit bytes all clients' output may hold together; default 256 MiB (DEFAULT_LIMITS). */
  constructor(limit: number = DEFAULT_LIMITS.maxTotalClientOutputBytes) {
    this.bound = checkLimit(limit);
  }

  /** The bound, in bytes. */
  get limit(): number {
    return this.bound;
  }

  /** A new bound (config reload); clients over it are disconnected at once, largest first. */
  setLimit(limit: number): void {
    this.bound = checkLimit(limit);
    this.enforce();
  }

  /** Bytes all clients' output queues hold together. */
  get total(): number {
    return this.sum;
  }

  /** Clients with an account (connected clients). */
  get size(): number {
    return this.accounts.size;
  }

  /**
   * An account for one client. `evict` disconnects that client; it is called when the budget is over
   * its bound and this client's queue is among the largest, and must close the account (directly or
   * by closing the client). The caller closes the account when the client goes.
   */
  open(evict: () => void): OutputAccount {
    const a = new Account(this.moved, this.closed, evict);
    this.accounts.add(a);
    return a;
  }

  /** An account's bytes changed by `d`. */
  private readonly moved = (d: number): void => {
    this.sum += d;
    if (d > 0 && this.sum > this.bound) this.enforce();
  };

  private readonly closed = (a: Account): void => {
    this.accounts.delete(a);
    this.sum -= a.bytes;
    a.bytes = 0;
  };

  /** Over the bound: disconnect the clients with the largest queues until the total is under it. */
  private enforce(): void {
    if (this.evicting || this.sum <= this.bound) return;
    this.evicting = true;
    try {
      const largest = [...this.accounts].sort((a, b) => b.bytes - a.bytes);
      for (const a of largest) {
        if (this.sum <= this.bound || a.bytes === 0) break;
        if (!a.open) continue;
        try {
          a.evict();
        } finally {
          a.close(); // whatever evict did, its bytes no longer count
        }
      }
    } finally {
      this.evicting = false;
    }
  }
}

function checkLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`OutputBudget: the limit must be a positive integer (bytes), got ${limit}`);
  return limit;
}
