/**
 * Virtual clients: in-process clients a plugin opens (ProxyApi.openVirtualClient) to run commands the
 * way a network client does — a real Session over an in-process Conn, so QEMU's greeting and
 * negotiation, every plugin's hooks (policy, audit), the limits and the metrics apply as to anyone.
 * The NATS command gateway is one (plugins/nats).
 *
 * Identity: the peer is `{ transport: 'virtual', virtual: { via, principal } }`, set here from what
 * the plugin declared; no network transport sets `virtual`, so no network client can claim it. The
 * session's principal starts as the declared one; the policy plugin confirms it (or refuses the client
 * when the policy names no such principal).
 *
 * One request is one message and gets one reply (`request`): bytes that are not exactly one JSON value
 * are answered here (QEMU's parse error for bad JSON, NOT_ONE_REQUEST otherwise) and never reach the
 * session, so requests and replies stay paired. fd-taking commands are refused (NO_FD_PASSING): no fd
 * travels in-process. Virtual clients receive no events.
 */
import { QmpFramer, errorReply, parseMessage, serializeQemu, toPlain, type JsonPlain } from '@qmpmux/protocol';
import type { Peer } from '@qmpmux/transports';
import { errorLine } from './errors.ts';
import { inProcessConn, type InProcessConn } from './in-process-conn.ts';
import type { VirtualClient, VirtualClientState } from './types.ts';
import { FD_CONSUMERS } from './upstream.ts';

const CRLF = Buffer.from('\r\n');
const END = Buffer.from('\n');
const line = (text: string) => Buffer.concat([Buffer.from(text, 'latin1'), CRLF]);

/** What one request holds, checked before it goes anywhere. */
export type RequestCheck =
  /** One JSON value: its bytes (to feed a session), the command name and the id as QEMU echoes it, when it has them. */
  | { ok: true; bytes: Buffer; command?: string; idText?: string }
  /** Not one JSON value: the reply (a QMP error line, no line end). */
  | { ok: false; reply: string };

/**
 * Check that `message` is exactly one JSON value, as QEMU's streamer splits input. The first parse
 * error QEMU would report is the answer to bad JSON (QEMU would go on to report more for the rest of
 * the bytes; a request has one reply, so only the first is given).
 */
export function inspectRequest(message: Buffer, maxMessageBytes: number): RequestCheck {
  const framer = new QmpFramer({ maxMessageBytes });
  // A number or keyword at the very end needs one more byte to end, as on a socket.
  const events = framer.push(Buffer.concat([message, END]));
  const first = events[0];
  const notOne = (got: string) => ({ ok: false as const, reply: errorLine('NOT_ONE_REQUEST', undefined, got) });
  if (!first) return notOne(framer.pendingBytes > 0 ? 'an incomplete JSON value' : 'nothing');
  if (first.type === 'error') return { ok: false, reply: errorLine('QMP_INPUT', undefined, first.desc) };
  if (first.type === 'oversize') return { ok: false, reply: errorLine('REQUEST_TOO_LARGE', undefined, first.limit) };
  if (events.length > 1 || framer.pendingBytes > 0) return notOne('more input after the first JSON value');
  const out: RequestCheck = { ok: true, bytes: Buffer.concat([first.raw, END]) };
  if (first.root.kind === 'object') {
    for (const m of first.root.members) {
      if ((m.key === 'execute' || m.key === 'exec-oob') && m.value.kind === 'string') out.command = m.value.value;
      if (m.key === 'id') out.idText = serializeQemu(m.value);
    }
  }
  return out;
}

interface Waiter {
  bytes: Buffer;
  idText: string | undefined;
  resolve(reply: Buffer): void;
}

/** The VirtualClient a plugin gets: a session's client end, in process. */
export class InProcessClient implements VirtualClient {
  readonly conn: InProcessConn;
  id: number | undefined;
  private phase: 'greeting' | 'negotiating' | VirtualClientState = 'greeting';
  /** Sent to the session, in order, waiting for their replies. */
  private readonly sent: Waiter[] = [];
  /** Given before negotiation completed; sent once it has. */
  private readonly held: Waiter[] = [];
  /** How the session refused or ended this client, as a QMP error. */
  private ending: { cls: string; desc: string } | undefined;
  private resolveClosed!: (why: string) => void;
  readonly closed = new Promise<string>((r) => (this.resolveClosed = r));

  constructor(
    readonly peer: Peer,
    private readonly maxMessageBytes: number,
  ) {
    this.conn = inProcessConn(peer, { output: (d) => this.onOutput(d), closed: () => this.onClosed() });
  }

  get state(): VirtualClientState {
    return this.phase === 'greeting' || this.phase === 'negotiating' ? 'connecting' : this.phase;
  }

  request(message: Buffer): Promise<Buffer> {
    const chk = inspectRequest(message, this.maxMessageBytes);
    if (!chk.ok) return Promise.resolve(line(chk.reply));
    if (chk.command !== undefined && FD_CONSUMERS.has(chk.command)) {
      return Promise.resolve(line(errorLine('NO_FD_PASSING', chk.idText, chk.command, this.peer.virtual!.via)));
    }
    return new Promise((resolve) => {
      const w: Waiter = { bytes: chk.bytes, idText: chk.idText, resolve };
      if (this.phase === 'closed') return resolve(this.closedReply(w));
      if (this.phase !== 'ready') return void this.held.push(w);
      this.send(w);
    });
  }

  close(): void {
    this.conn.hangUp();
  }

  private send(w: Waiter): void {
    this.sent.push(w);
    this.conn.input(w.bytes);
  }

  private onOutput(data: Buffer): void {
    switch (this.phase) {
      case 'greeting':
        if (data.subarray(0, 6).toString('latin1') === '{"QMP"') {
          this.phase = 'negotiating';
          return this.conn.input(Buffer.from('{"execute": "qmp_capabilities"}'));
        }
        return this.noteEnding(data); // a refusal before the greeting; the session closes next
      case 'negotiating':
        if (data.toString('latin1').startsWith('{"return": {}}')) {
          this.phase = 'ready';
          for (const w of this.held.splice(0)) this.send(w);
          return;
        }
        return this.noteEnding(data);
      case 'ready': {
        const w = this.sent.shift();
        if (w) w.resolve(data);
        return;
      }
    }
  }

  private noteEnding(data: Buffer): void {
    const node = parseMessage(data);
    const v = (node ? toPlain(node) : null) as { error?: { class?: JsonPlain; desc?: JsonPlain } } | null;
    if (v?.error) this.ending = { cls: String(v.error.class), desc: String(v.error.desc) };
  }

  private closedReply(w: Waiter): Buffer {
    if (this.ending) return line(errorReply(this.ending.cls, this.ending.desc, w.idText));
    return line(errorLine('CLOSED_BEFORE_REPLY', w.idText, 'qmpmux is shutting down, the QEMU monitor connection was lost, or the client was closed'));
  }

  private onClosed(): void {
    this.phase = 'closed';
    for (const w of [...this.sent.splice(0), ...this.held.splice(0)]) w.resolve(this.closedReply(w));
    this.resolveClosed(this.ending?.desc ?? 'closed');
  }
}
