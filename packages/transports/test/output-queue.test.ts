/** OutputQueue without sockets: a scripted sink that takes writes, or holds them until told to drain. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeFd, fdType, pipe } from '@qmpmux/unixfd';
import { CHUNK_BYTES, COPY_BELOW, ENTRY_BYTES, FRAME_END_BYTES, OutputQueue, type OutputSink } from '../src/output-queue.ts';

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
  /** Everything handed over after the first write, as text. */
  handed(): string[] {
    return this.writes.slice(1).map((w) => w.data.toString('latin1'));
  }
}

const msg = (text: string) => Buffer.from(text + '\r\n', 'latin1');

/** A queue whose transport holds its first write: what follows waits in the queue. */
function blocked(framed = false) {
  const sink = new Sink();
  const q = new OutputQueue(sink, framed);
  sink.stuck = true;
  q.write(msg('head'));
  return { sink, q };
}

describe('OutputQueue', () => {
  it('passes every write straight through, uncopied, while the transport keeps up', () => {
    const sink = new Sink();
    const q = new OutputQueue(sink);
    const a = msg('{"return": {}}');
    q.write(a);
    q.write(msg('{"event": "STOP"}'));
    assert.equal(sink.writes.length, 2);
    assert.equal(sink.writes[0]!.data, a, 'the same Buffer');
    assert.equal(q.writableLength, 0);
  });

  it('once the transport holds bytes, copies small writes into a chunk and counts the chunk whole', () => {
    const { sink, q } = blocked();
    const ev = msg('{"event": "STOP"}');
    for (let i = 0; i < 100; i++) q.write(ev);
    assert.equal(sink.writes.length, 1, 'nothing more handed over while the transport holds bytes');
    assert.equal(q.writableLength, msg('head').length + CHUNK_BYTES + ENTRY_BYTES);
  });

  it('keeps a large write as it is, counted at its size', () => {
    const { sink, q } = blocked();
    const big = Buffer.alloc(COPY_BELOW, 0x62);
    q.write(big);
    assert.equal(q.writableLength, msg('head').length + big.length + ENTRY_BYTES);
    sink.stuck = false;
    sink.flush(q);
    assert.equal(sink.writes[1]!.data, big, 'handed over as it is');
  });

  it('hands over chunk by chunk, in order, when the transport drains; nothing counted afterwards', () => {
    const { sink, q } = blocked();
    let progress = 0;
    q.onProgress = () => progress++;
    const texts = Array.from({ length: 1000 }, (_, i) => `{"event": "E${i}"}`);
    for (const t of texts) q.write(msg(t));
    q.write(Buffer.alloc(COPY_BELOW * 2, 0x41));
    q.write(msg('tail'));
    sink.stuck = false;
    sink.flush(q);
    assert.equal(progress, 1);
    assert.ok(sink.writes.slice(1).every((w) => w.data.length <= Math.max(CHUNK_BYTES, COPY_BELOW * 2)));
    assert.equal(sink.handed().join(''), texts.map((t) => t + '\r\n').join('') + 'A'.repeat(COPY_BELOW * 2) + 'tail\r\n');
    assert.equal(q.writableLength, 0);
  });

  it('stops handing over as soon as the transport holds bytes again, and counts the unused rest of the chunk it holds', () => {
    const { sink, q } = blocked();
    q.write(msg('one'));
    q.write(Buffer.alloc(COPY_BELOW, 0x62));
    sink.flush(q); // still stuck: takes the chunk, then holds it
    assert.equal(sink.handed().length, 1);
    assert.equal(q.writableLength, CHUNK_BYTES + COPY_BELOW + ENTRY_BYTES, 'the chunk held by the transport, and the large write still here');
  });

  it('keeps message boundaries when framed (WebSocket): one message per hand-over', () => {
    const { sink, q } = blocked(true);
    const texts = ['a', 'b', 'c'];
    for (const t of texts) q.write(msg(t));
    const big = Buffer.alloc(COPY_BELOW, 0x63);
    q.write(big);
    q.write(msg('d'));
    assert.equal(q.writableLength, msg('head').length + 2 * (CHUNK_BYTES + ENTRY_BYTES) + big.length + ENTRY_BYTES + 5 * FRAME_END_BYTES);
    sink.stuck = false;
    sink.flush(q);
    assert.deepEqual(sink.handed(), ['a\r\n', 'b\r\n', 'c\r\n', big.toString('latin1'), 'd\r\n']);
    assert.equal(q.writableLength, 0);
  });

  it('a write with fds starts a chunk of its own, the fds with its first byte', () => {
    const { sink, q } = blocked();
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
    for (const fd of [r, w]) assert.notEqual(fdType(fd), 'closed', 'the transport owns them now');
    for (const fd of [r, w]) closeFd(fd);
  });

  it('closes the fds of waiting writes when cleared (the connection died)', () => {
    const { sink, q } = blocked();
    const [r, w] = pipe();
    q.write(msg('with fds'), [r, w]);
    q.clear();
    assert.equal(fdType(r), 'closed');
    assert.equal(fdType(w), 'closed');
    assert.equal(q.writableLength, sink.writableLength, 'nothing counted here any more');
  });

  it('ends the transport only after every waiting write was handed over', () => {
    const { sink, q } = blocked();
    let ended = false;
    q.write(msg('tail'));
    q.afterQueued(() => (ended = true));
    assert.equal(ended, false);
    sink.stuck = false;
    sink.flush(q);
    assert.equal(ended, true);
    assert.deepEqual(sink.handed(), ['tail\r\n']);
  });
});
