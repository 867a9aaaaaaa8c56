/** One assertion the fleet tests make again and again: a listener leads to the QEMU it should. */
import assert from 'node:assert/strict';
import { QmpClient } from '@qmpmux/client';

/** A fresh client of `address` (QEMU's monitor or qmpmux's) reaches the QEMU whose `query-name` is `name`; the client is closed. */
export async function assertReaches(address: string, name: string, message?: string): Promise<void> {
  const c = await QmpClient.connect(address);
  try {
    assert.deepEqual(await c.execute('query-name'), { name }, message ?? `${address} reaches ${name}`);
  } finally {
    c.close();
  }
}
