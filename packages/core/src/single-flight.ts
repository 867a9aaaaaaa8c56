/**
 * Single-flight for pure queries (the list is in query-cache.ts): while a shared query waits in the
 * dispatcher, identical ones join it instead of queueing their own. The moment its bytes are built for
 * QEMU (written, in the same tick), it closes: a command arriving after that queues a new one, so no
 * client is ever answered with a reply QEMU produced before that client's request arrived.
 */
import type { UpstreamReply } from './upstream-message.ts';

/** What a flight needs of the first asker's request (an UpstreamRequest): its bytes and its two endings. */
export interface FlightRequest {
  build(id: number): Buffer;
  onReply(reply: UpstreamReply): void;
  onLost(): void;
}

export interface Joiner {
  onReply(reply: UpstreamReply): void;
  onLost(): void;
}

/** At most this many clients share one query (the rest open a new one); bounds a flight's list. */
export const MAX_JOINERS = 1024;

export class SingleFlight {
  /** Open flights by key: not yet written to QEMU. At most one per key. */
  private readonly open_ = new Map<string, Joiner[]>();

  get size(): number {
    return this.open_.size;
  }

  join(key: string, joiner: Joiner): boolean {
    const list = this.open_.get(key);
    if (!list || list.length >= MAX_JOINERS) return false;
    list.push(joiner);
    return true;
  }

  /** Wrap the first asker's request: it closes the flight when built, and answers every joiner. */
  open<R extends FlightRequest>(key: string, req: R): R {
    const joiners: Joiner[] = [];
    this.open_.set(key, joiners);
    const close = () => {
      if (this.open_.get(key) === joiners) this.open_.delete(key);
    };
    const each = (f: (j: Joiner) => void) => {
      for (const j of joiners) {
        try {
          f(j);
        } catch {
          // one client's failure must not keep the others from their answer
        }
      }
    };
    return {
      ...req,
      build: (id) => {
        close();
        return req.build(id);
      },
      onReply: (reply) => {
        close();
        req.onReply(reply);
        each((j) => j.onReply(reply));
      },
      onLost: () => {
        close();
        req.onLost();
        each((j) => j.onLost());
      },
    };
  }
}
