/**
 * Test helpers: what QEMU 7.2 answers to a byte stream, computed with this
 * package, and the recorded transcripts of the real QEMU to compare with.
 */
import { readFileSync } from 'node:fs';
import { checkEnvelope, errorReply, QmpFramer, serializeQemu, type FrameEvent, type FramerOptions } from '../../src/index.ts';

/** pre = before qmp_capabilities; post = negotiated without oob; oob = negotiated with oob. */
export type Mode = 'pre' | 'post' | 'oob';

/**
 * The replies QEMU sends for the events of a stream, assuming no command
 * exists: the framer's parse errors, the envelope errors, and otherwise
 * CommandNotFound (QEMU's pre-negotiation text before qmp_capabilities).
 */
export function repliesFor(events: readonly FrameEvent[], mode: Mode): string[] {
  const out: string[] = [];
  for (const ev of events) {
    if (ev.type === 'error') {
      out.push(errorReply('GenericError', ev.desc));
    } else if (ev.type === 'oversize') {
      out.push(`<oversize ${ev.limit}>`);
    } else {
      const env = checkEnvelope(ev.root, mode === 'oob');
      const idText = env.id ? serializeQemu(env.id) : undefined;
      if (!env.ok) out.push(errorReply('GenericError', env.desc, idText));
      else if (mode === 'pre') out.push(errorReply('CommandNotFound', "Expecting capabilities negotiation with 'qmp_capabilities'", idText));
      else out.push(errorReply('CommandNotFound', `The command ${env.command} has not been found`, idText));
    }
  }
  return out;
}

export function replies(bytes: Buffer, mode: Mode = 'pre', opts: FramerOptions = {}): string[] {
  return repliesFor(new QmpFramer({ maxMessageBytes: Infinity, ...opts }).push(bytes), mode);
}

/** A byte string written with \xNN escapes meaning single bytes. */
export function bin(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

export interface RecordedCase {
  name: string;
  mode: Mode;
  /** The bytes sent, one char per byte (latin1). */
  input: string;
  /** QEMU's reply lines (without \r\n); runs of one line are packed as {times, reply}. */
  replies: (string | { times: number; reply: string })[];
}

export function loadRecorded(file: string): RecordedCase[] {
  return JSON.parse(readFileSync(new URL(`../fixtures/${file}`, import.meta.url), 'utf8')) as RecordedCase[];
}

export function unpack(replies: RecordedCase['replies']): string[] {
  return replies.flatMap((r) => (typeof r === 'string' ? [r] : Array<string>(r.times).fill(r.reply)));
}

/** Events with raw turned into text, for deep comparisons. */
export function comparable(events: readonly FrameEvent[]): unknown[] {
  return events.map((e) => (e.type === 'message' ? { type: e.type, raw: e.raw.toString('latin1'), root: e.root } : e));
}

/** Feeds `bytes` to a fresh framer in the given pieces. */
export function feed(pieces: readonly Buffer[], opts: FramerOptions = {}): FrameEvent[] {
  const f = new QmpFramer(opts);
  return pieces.flatMap((p) => f.push(p));
}
