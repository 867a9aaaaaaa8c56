/** The process-wide output budget without sockets: accounting, and whom it disconnects (largest first). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_LIMITS, OutputBudget, type OutputAccount } from '../src/index.ts';

/** Clients as the budget sees them: an account each, and the order they were evicted in. */
function clients(budget: OutputBudget, n: number) {
  const evicted: number[] = [];
  const accounts: OutputAccount[] = [];
  for (let i = 0; i < n; i++) {
    accounts.push(
      budget.open(() => {
        evicted.push(i);
        accounts[i]!.close(); // what a session's close does
      }),
    );
  }
  return { accounts, evicted };
}

describe('OutputBudget', () => {
  it('defaults to maxTotalClientOutputBytes (256 MiB)', () => {
    assert.equal(DEFAULT_LIMITS.maxTotalClientOutputBytes, 256 * 1024 * 1024);
    assert.equal(new OutputBudget().limit, DEFAULT_LIMITS.maxTotalClientOutputBytes);
    assert.throws(() => new OutputBudget(0), /positive integer/);
  });

  it('sums what every account holds; a set replaces, a close releases, and no entry outlives its client', () => {
    const b = new OutputBudget(1000);
    const { accounts } = clients(b, 3);
    accounts[0]!.set(100);
    accounts[1]!.set(200);
    accounts[1]!.set(50); // written out in part
    accounts[2]!.set(300);
    assert.equal(b.total, 450);
    assert.equal(b.size, 3);
    accounts[2]!.close();
    accounts[2]!.close(); // idempotent
    accounts[2]!.set(999); // a late drain after the client went: ignored
    assert.equal(b.total, 150);
    accounts[0]!.close();
    accounts[1]!.close();
    assert.equal(b.total, 0);
    assert.equal(b.size, 0);
  });

  it('at the bound, disconnects the clients with the largest queues first, until the total is under it', () => {
    const b = new OutputBudget(1000);
    const { accounts, evicted } = clients(b, 5);
    [100, 400, 50, 300, 140].forEach((n, i) => accounts[i]!.set(n)); // 990
    assert.deepEqual(evicted, []);
    accounts[2]!.set(500); // 1440 > 1000: client 2 (500) goes → 940
    assert.deepEqual(evicted, [2]);
    assert.equal(b.total, 940);
    accounts[0]!.set(900); // 1740: 900 (0) → 840, under
    assert.deepEqual(evicted, [2, 0]);
    accounts[4]!.set(1000); // 400 + 300 + 1000 = 1700: 4 → 700
    assert.deepEqual(evicted, [2, 0, 4]);
    assert.equal(b.total, 700);
    assert.equal(b.size, 2);
  });

  it('disconnects several when one is not enough, largest first', () => {
    const b = new OutputBudget(1000);
    const { accounts, evicted } = clients(b, 4);
    [300, 350, 250, 90].forEach((n, i) => accounts[i]!.set(n)); // 990
    accounts[3]!.set(600); // 1500 → drop 3 (600) → 900 ≤ 1000
    assert.deepEqual(evicted, [3]);
    b.setLimit(500); // 900 over 500: 1 (350) → 550, 0 (300) → 250
    assert.deepEqual(evicted, [3, 1, 0]);
    assert.equal(b.total, 250);
  });

  it('counts an evicted client out even when its evict does not close the account', () => {
    const b = new OutputBudget(100);
    let calls = 0;
    const a = b.open(() => calls++);
    a.set(200);
    assert.equal(calls, 1);
    assert.equal(b.total, 0);
    assert.equal(b.size, 0);
  });

  it('a budget shared by several owners (proxies) weighs all their clients together', () => {
    const shared = new OutputBudget(1000);
    const vm1 = clients(shared, 2);
    const vm2 = clients(shared, 2);
    vm1.accounts[0]!.set(300);
    vm2.accounts[0]!.set(450);
    vm1.accounts[1]!.set(200);
    vm2.accounts[1]!.set(100); // 1050: the largest is vm2's client 0
    assert.deepEqual(vm2.evicted, [0]);
    assert.deepEqual(vm1.evicted, []);
    assert.equal(shared.total, 600);
  });
});
