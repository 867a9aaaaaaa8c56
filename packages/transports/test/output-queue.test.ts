/** OutputQueue without sockets: a scripted sink that takes writes, or holds them until told to drain. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeFd, fdType, pipe } from '@qmpmux/unixfd';
import { BATCH_BYTES, ENTRY_BYTES, OutputQueue, type OutputSink } from '../src/output-queue.ts';

class Sink implements OutputSink {
  writes: { data: Buffer; fds: number[] | undefined }[] = [];
  /** Bytes held (as a transport would after a partial write). */
  writableLength = 0;
  /** Hold every write (the peer stopped reading). */
  stuck = false;
  write(data: Buffer, fds: number[] | undefined): boolean {
    this.writes.push({ data, fds });
    if (this.stuck) this.writableLength += data.length;
    return !this.stuck;
  }
  /** The peer read everything: the transport has written out what it held. */
  flush(q: OutputQueue): void {
    this.writableLength = 0;
    q.drained();
  }
}

const msg = (text: string) => Buffer.from(text + '\r\n', 'latin1');

describe('OutputQueue', () => {
  it('passes every write straight through while the transport keeps up', () => {
    const sink = new Sink();
    const q = new OutputQueue(sink);
    const a = msg('{"return": {}}');
    q.write(a);
    q.write(msg('{"event": "STOP"}'));
    assert.equal(sink.writes.length, 2);
    assert.equal(sink.writes[0]!.data, a, 'the same Buffer, not a copy');
    assert.equal(q.writableLength, 0);
  });

  it('once the transport holds bytes, keeps later writes (by reference) and counts them with their entries', () => {
    const sink = new Sink();
    const q = new OutputQueue(sink);
    sink.stuck = true;
    q.write(msg('first')); // handed over, held by the transport
    const ev = msg('{"event": "STOP"}');
    for (let i = 0; i < 3; i++) q.write(ev);
    assert.equal(sink.writes.length, 1, 'nothing more handed over while the transport holds bytes');
    assert.equal(q.writableLength, msg('first').length + 3 * (ev.length + ENTRY_BYTES));
  });

  it('hands waiting writes over in order when the transport drains, small ones joined up to BATCH_BYTES', () => {
    const sink = new Sink();
    const q = new OutputQueue(sink);
    let progress = 0;
    q.onProgress = () => progress++;
    sink.stuck = true;
    q.write(msg('head'));
    const small = Buffer.alloc(1000, 0x61);
    const n = Math.ceil((BATCH_BYTES * 2.5) / small.length);
    for (let i = 0; i < n; i++) q.write(small);
    sink.stuck = false;
    sink.flush(q);
    assert.equal(progress, 1);
    const handed = sink.writes.slice(1);
    assert.ok(handed.every((w) => w.data.length <= BATCH_BYTES), 'no hand-over beyond BATCH_BYTES');
    assert.equal(handed.length, Math.ceil((n * small.length) / (Math.floor(BATCH_BYTES / small.length) * small.length)));
    assert.equal(Buffer.concat(handed.map((w) => w.data)).length, n * small.length);
    assert.equal(q.writableLength, 0);
  });

  it('stops handing over as soon as the transport holds bytes again', () => {
    const sink = new Sink();
    const q = new OutputQueue(sink);
    sink.stuck = true;
    q.write(msg('head'));
    const big = Buffer.alloc(BATCH_BYTES, 0x62); // never joined: one hand-over each
    for (let i = 0; i < 3; i++) q.write(big);
    sink.flush(q); // still stuck: takes one, then holds it
    assert.equal(sink.writes.length, 2);
    assert.equal(sink.writes[1]!.data, big, 'a large write is handed over as it is');
    assert.equal(q.writableLength, big.length + 2 * (big.length + ENTRY_BYTES));
  });

  it('keeps message boundaries when framed (WebSocket): one message per hand-over', () => {
    const sink = new Sink();
    const q = new OutputQueue(sink, true);
    sink.stuck = true;
    q.write(msg('head'));
    const parts = ['a', 'b', 'c'].map(msg);
    for (const p of parts) q.write(p);
    sink.stuck = false;
    sink.flush(q);
    assert.deepEqual(sink.writes.slice(1).map((w) => w.data), parts);
  });

  it('a write with fds starts a hand-over of its own, the fds with its first byte', () => {
    const sink = new Sink();
    const q = new OutputQueue(sink);
    sink.stuck = true;
    q.write(msg('head'));
    q.write(msg('one'));
    const [r, w] = pipe();
    q.write(msg('two'), [r, w]);
    q.write(msg('three'));
    sink.stuck = false;
    sink.flush(q);
    assert.deepEqual(
      sink.writes.slice(1).map((x) => [x.data.toString('latin1'), x.fds]),
      [
        ['one\r\n', undefined],
        ['two\r\nthree\r\n', [r, w]],
      ],
    );
    for (const fd of [r, w]) assert.notEqual(fdType(fd), 'closed');
    for (const fd of [r, w]) closeFd(fd);
  });

  it('closes the fds of waiting writes when cleared (the connection died)', () => {
    const sink = new Sink();
    const q = new OutputQueue(sink);
    sink.stuck = true;
    q.write(msg('head'));
    const [r, w] = pipe();
    q.write(msg('with fds'), [r, w]);
    q.clear();
    assert.equal(fdType(r), 'closed');
    assert.equal(fdType(w), 'closed');
    assert.equal(q.writableLength, sink.writableLength, 'nothing counted here any more');
  });

  it('ends the transport only after every waiting write was handed over', () => {
    const sink = new Sink();
    const q = new OutputQueue(sink);
    let ended = false;
    sink.stuck = true;
    q.write(msg('head'));
    q.write(msg('tail'));
    q.afterQueued(() => (ended = true));
    assert.equal(ended, false);
    sink.stuck = false;
    sink.flush(q);
    assert.equal(ended, true);
    assert.equal(sink.writes.at(-1)!.data.toString('latin1'), 'tail\r\n');
  });
});
