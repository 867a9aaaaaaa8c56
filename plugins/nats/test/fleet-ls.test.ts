/**
 * Fleet.ls() (what `qmpmux fleet ls` prints) while inventory entries expire: it must answer, whatever
 * the moment. nats.js's keys() alone waits forever for an entry that expired while it was listing
 * (seen in 6 listings of 30 taken at the moment of expiry); Fleet.ls() takes a stalled listing again.
 * Real nats-server 2.9.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Kvm } from '@nats-io/kv';
import { Fleet, KEYS_STALL_MS } from '../src/index.ts';
import { useNats } from './helpers.ts';

describe('Fleet.ls while entries expire', () => {
  const bus = useNats();

  it('answers every time, listing taken at every moment around the expiry of the entry (12 buckets at once)', async () => {
    const BUCKETS = 12;
    const TTL_MS = 1000;
    const outcomes = await Promise.all(
      Array.from({ length: BUCKETS }, async (_, b) => {
        const kv = await new Kvm(bus.nc).create(`LS${b}`, { ttl: TTL_MS, history: 1 });
        const fleet = await Fleet.open({ servers: [bus.nats.url], inventoryBucket: `LS${b}` });
        try {
          await kv.put('vm', JSON.stringify({ vm: 'vm' }));
          const t0 = Date.now();
          const seen = new Set<number>();
          // Listings back to back from before the expiry to well after it; each bounded by the
          // retries' worst case (three stalls), so a hang shows as a failure, not a stuck test.
          const bound = 3 * KEYS_STALL_MS + 5_000;
          while (Date.now() - t0 < 2.5 * TTL_MS) {
            let timer: NodeJS.Timeout | undefined;
            const r = await Promise.race([fleet.ls(), new Promise<'hung'>((res) => (timer = setTimeout(() => res('hung'), bound)))]);
            clearTimeout(timer);
            if (r === 'hung') return `bucket ${b}: ls() did not answer within ${bound} ms, ${Date.now() - t0 - bound} ms after the put`;
            seen.add(r.length);
            if (r.length > 1) return `bucket ${b}: ${r.length} entries`;
          }
          return [...seen].sort().join(',');
        } finally {
          await fleet.close();
        }
      }),
    );
    // Each saw the entry, then none (it expired): and never hung.
    assert.deepEqual(outcomes, Array(BUCKETS).fill('0,1'));
  });
});
