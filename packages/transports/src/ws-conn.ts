/**
 * One accepted WebSocket as a `Conn`.
 *
 * - Input: in `qmp.json` mode every frame's payload (text, or binary from a byte-stream bridge) is
 *   passed on as bytes, so a frame may hold one message, several, or part of one. In `qmp.msgpack`
 *   mode binary frames are decoded to JSON text (ws-msgpack.ts); a text frame there closes with 1003.
 * - Output: each `write()` (one whole message) is one frame. `qmp.json` frames carry exactly the bytes
 *   a socket client receives, trailing `\r\n` included.
 * - `writableLength` is what waits in the OutputQueue (messages the socket could not take yet, one frame
 *   handed over at a time) plus `bufferedAmount`, so the core's output limits see a peer that stops
 *   reading.
 * - Keepalive: a ping every `keepaliveMs`; no pong within `keepaliveTimeoutMs` drops the connection
 *   (not while the core has paused reading: the pong could not be read then).
 * - Frames that arrive before `start()` or while paused wait here (ws stops the socket, so at most what
 *   was already read).
 */
import type { Socket } from 'node:net';
import { closeFds } from './fds.ts';
import type { WebSocket, RawData } from 'ws';
import type { Conn, Peer } from './conn.ts';
import { unattached } from './conn.ts';
import { OutputQueue } from './output-queue.ts';
import { MsgpackEncoder, WsCodecError, decodeMsgpackFrame } from './ws-msgpack.ts';
import type { WsLog, WsMode } from './ws-options.ts';

/** Close codes (RFC 6455 §7.4.1). */
export const WS_CLOSE = { NORMAL: 1000, UNSUPPORTED_DATA: 1003, INVALID_PAYLOAD: 1007 } as const;

export interface WsConnOptions {
  mode: WsMode;
  keepaliveMs: number;
  keepaliveTimeoutMs: number;
  log?: WsLog;
}

export function fromWebSocket(ws: WebSocket, socket: Socket, peer: Peer, opts: WsConnOptions): Conn {
  const encoder = opts.mode === 'msgpack' ? new MsgpackEncoder() : undefined;
  const held: Buffer[] = [];
  let started = false;
  let paused = false;
  let closed = false;
  let refused = false;
  let keepalive: NodeJS.Timeout | undefined;
  let pongDue: NodeJS.Timeout | undefined;
  // Output waits in an OutputQueue while the socket holds one of our frames. One callback for every
  // frame (no allocation per write): once none of ours is left, the next waiting message goes.
  // (Counted, not read from bufferedAmount: a ping or pong may be left after our last frame.)
  let holding = false;
  let unwritten = 0;
  const written = () => {
    if (--unwritten === 0 && holding) {
      holding = false;
      out.drained();
    }
  };
  const frame = (data: Buffer, binary: boolean) => {
    unwritten++;
    ws.send(data, { binary }, written);
  };
  const send = (data: Buffer): boolean => {
    if (closed || ws.readyState !== ws.OPEN) return true;
    if (!encoder) frame(data, false);
    else {
      let frames: Buffer[];
      try {
        frames = encoder.encode(data);
      } catch (e) {
        opts.log?.warn('cannot encode a message as MessagePack: dropped', { peer: peer.address, error: (e as Error).message });
        return true;
      }
      for (const f of frames) frame(f, true);
    }
    holding = ws.bufferedAmount > 0;
    return !holding;
  };
  const out = new OutputQueue(
    {
      write: send,
      get writableLength() {
        return ws.bufferedAmount;
      },
    },
    true,
  );

  const flowing = () => started && !paused && !closed;
  const deliver = (bytes: Buffer) => {
    if (flowing()) conn.onData(bytes, []);
    else held.push(bytes);
  };
  const flush = () => {
    while (held.length && flowing()) conn.onData(held.shift()!, []);
    if (flowing()) ws.resume();
  };
  const refuse = (code: number, reason: string) => {
    refused = true;
    held.length = 0;
    opts.log?.warn('WebSocket input refused: closing', { peer: peer.address, code, reason });
    ws.close(code, reason.slice(0, 120));
  };

  const conn: Conn = {
    peer,
    get writableLength() {
      return out.writableLength;
    },
    ...unattached,
    start() {
      if (started) return;
      started = true;
      flush();
    },
    write(data, fds) {
      // A WebSocket cannot carry fds: they are closed here, as the contract says.
      closeFds(fds);
      out.write(data);
    },
    pause() {
      paused = true;
      ws.pause();
      // A pong cannot be read while reading is paused by the core: not the peer's fault.
      clearTimeout(pongDue);
      pongDue = undefined;
    },
    resume() {
      paused = false;
      flush();
    },
    end: () => out.afterQueued(() => ws.close(WS_CLOSE.NORMAL)),
    destroy() {
      out.clear();
      ws.terminate();
    },
  };

  out.onProgress = () => conn.onDrain();
  ws.pause(); // until start()
  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (closed || refused) return;
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (!encoder) return deliver(bytes);
    if (!isBinary) return refuse(WS_CLOSE.UNSUPPORTED_DATA, 'qmp.msgpack takes binary frames');
    try {
      deliver(decodeMsgpackFrame(bytes));
    } catch (e) {
      if (!(e instanceof WsCodecError)) throw e;
      refuse(WS_CLOSE.INVALID_PAYLOAD, e.message);
    }
  });
  ws.on('error', (err: Error & { code?: string }) => {
    // ws closes the connection itself after a protocol error (1009 for an oversize message, 1007 for bad UTF-8, …).
    opts.log?.warn('WebSocket protocol error: closing', { peer: peer.address, code: err.code, error: err.message });
  });
  ws.on('close', (code: number) => {
    if (closed) return;
    closed = true;
    clearInterval(keepalive);
    clearTimeout(pongDue);
    held.length = 0;
    out.clear();
    conn.onClose(code === WS_CLOSE.NORMAL || code === 1005 ? undefined : new Error(`WebSocket closed with code ${code}`));
  });

  if (opts.keepaliveMs > 0) {
    keepalive = setInterval(() => {
      if (pongDue || paused || ws.readyState !== ws.OPEN) return;
      ws.ping();
      pongDue = setTimeout(() => {
        opts.log?.warn('WebSocket peer did not answer a ping: dropped', { peer: peer.address, timeoutMs: opts.keepaliveTimeoutMs });
        ws.terminate();
      }, opts.keepaliveTimeoutMs);
    }, opts.keepaliveMs);
    ws.on('pong', () => {
      clearTimeout(pongDue);
      pongDue = undefined;
    });
  }
  return conn;
}

