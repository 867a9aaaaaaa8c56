/** The bounded publish buffer, driven directly (no I/O): order, retries, acknowledgement, gaps. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PublishBuffer, type Gap, type PendingMessage } from '../src/publish-buffer.ts';

const ev = (seq: number): PendingMessage => ({ seq, subject: `p.vm.event.E`, data: Buffer.from(String(seq)), msgId: `vm.1.${seq}`, headers: [] });
const gapMsg = (g: Gap): PendingMessage => ({ seq: g.fromSeq, subject: 'p.vm.gap', data: Buffer.from(JSON.stringify(g)), msgId: `vm.1.gap.${g.fromSeq}`, headers: [] });
const drain = (b: PublishBuffer) => {
  const out: PendingMessage[] = [];
  for (let m = b.next(); m; m = b.next()) out.push(m);
  return out;
};

describe('PublishBuffer', () => {
  it('hands entries out oldest first and holds them until acknowledged', () => {
    const b = new PublishBuffer(10, gapMsg);
    for (let i = 1; i <= 3; i++) assert.equal(b.push(ev(i)), true);
    const sent = drain(b);
    assert.deepEqual(sent.map((m) => m.seq), [1, 2, 3]);
    assert.equal(b.size, 3, 'still held while unacknowledged');
    b.ack(sent[1]!);
    assert.equal(b.size, 2);
    b.ack(sent[1]!); // twice: no effect
    assert.equal(b.size, 2);
  });

  it('a failed entry goes out again before anything newer, in seq order; an entry acknowledged meanwhile is skipped', () => {
    const b = new PublishBuffer(10, gapMsg);
    for (let i = 1; i <= 5; i++) b.push(ev(i));
    const [m1, m2, m3] = [b.next()!, b.next()!, b.next()!];
    b.retry(m3);
    b.retry(m1);
    b.retry(m1); // once only
    b.retry(m2);
    b.ack(m2); // a late acknowledgement of the earlier attempt
    assert.deepEqual(drain(b).map((m) => m.seq), [1, 3, 4, 5]);
  });

  it('when full, drops events into one gap, reported in their place once there is room; never holds more than its capacity', () => {
    const b = new PublishBuffer(3, gapMsg);
    for (let i = 1; i <= 8; i++) b.push(ev(i));
    assert.equal(b.size, 3);
    assert.equal(b.dropped, 5);
    assert.deepEqual(b.openGap, { fromSeq: 4, toSeq: 8, dropped: 5 });
    const sent = drain(b);
    assert.deepEqual(sent.map((m) => m.seq), [1, 2, 3]);
    b.ack(sent[0]!); // room: the gap is queued
    assert.equal(b.openGap, undefined);
    assert.equal(b.gaps, 1);
    assert.equal(b.size, 3);
    const [gap] = drain(b);
    assert.equal(gap!.subject, 'p.vm.gap');
    assert.deepEqual(JSON.parse(gap!.data.toString()), { fromSeq: 4, toSeq: 8, dropped: 5 });
    assert.equal(b.push(ev(9)), false, 'still full (2, 3 and the gap held)');
    b.ack(sent[1]!);
    assert.equal(b.gaps, 2, 'the new drop is a second gap, reported at once');
    b.ack(sent[2]!);
    b.ack(gap!);
    assert.equal(b.push(ev(10)), true);
    assert.deepEqual(drain(b).map((m) => `${m.subject}:${m.seq}`), ['p.vm.gap:9', 'p.vm.event.E:10']);
  });
});
