/**
 * Splits a client byte stream into QMP messages exactly like QEMU 7.2's
 * JSON lexer + streamer (qobject/json-lexer.c, json-streamer.c):
 *
 * - the lexer's states, its string extensions (single quotes, \'), the bytes
 *   it accepts in strings (0x20..0xFD) and its error recovery (skip input up
 *   to a structural character, a control character other than TAB, or
 *   0xFE/0xFF);
 * - the streamer's brace/bracket counting: a message ends after any token
 *   that leaves both counts at 0 or either one negative, so a top-level
 *   scalar is a message of its own;
 * - the streamer's limits (token bytes, token count, nesting) and the
 *   lexer's single-token cap, with QEMU's error texts.
 *
 * Messages are then parsed by parser.ts. The framer scans Buffers with
 * indices and copies only when a message spans chunks.
 */
import type { JsonNode } from './node.ts';
import { QMP_LIMITS } from './limits.ts';
import { PARSE_ERRORS } from './errors.ts';
import { parseTokens } from './parser.ts';
import { ParseFailure, T_COLON, T_COMMA, T_FLOAT, T_INTEGER, T_KEYWORD, T_LCURLY, T_LSQUARE, T_RCURLY, T_RSQUARE, T_STRING } from './tokens.ts';
import { decodeLossy } from './utf8.ts';

export interface FramerOptions {
  /** Default 1 MiB. Counted from the message's first token byte. Exceeding it yields one {type:'oversize'}; the caller must then reset() (and disconnect). qmpmux policy, not QEMU's. */
  maxMessageBytes?: number;
  /** Default 1024 (`{` and `[` combined), QEMU's limit. */
  maxDepth?: number;
  /** Default 2 Mi, QEMU's limit. */
  maxTokens?: number;
  /** Default 64 MiB, QEMU's limit on the total token text of one message (and on one token). */
  maxTokenBytes?: number;
  /** Default false. True to parse QEMU's output: bare inf, -inf, nan (and -nan) become doubles. */
  allowNonFinite?: boolean;
}

export type FrameEvent =
  /**
   * raw = bytes from the first token's first byte to the last token's last
   * byte. It is a view of the chunk passed in when the message lies within
   * one chunk (copy it if you reuse chunk memory), else a fresh copy.
   */
  | { type: 'message'; raw: Buffer; root: JsonNode }
  /** desc is exactly QEMU's; reply with class GenericError and no id. */
  | { type: 'error'; desc: string }
  | { type: 'oversize'; limit: number };

// Lexer states.
const START = 0;
const RECOVERY = 1;
const DQ = 2;
const DQ_ESC = 3;
const SQ = 4;
const SQ_ESC = 5;
const ZERO = 6;
const DIGITS = 7;
const SIGN = 8;
const MANTISSA = 9;
const MANTISSA_DIGITS = 10;
const EXP_E = 11;
const EXP_SIGN = 12;
const EXP_DIGITS = 13;
const KEYWORD = 14;
const DEAD = 15;

// What a byte does in the START state: a token type (1..6), or one of these.
const A_WS = 20;
const A_DQ = 21;
const A_SQ = 22;
const A_ZERO = 23;
const A_DIGIT = 24;
const A_MINUS = 25;
const A_ALPHA = 26;
const A_ERROR = 27;

const START_ACTION = new Uint8Array(256).fill(A_ERROR);
START_ACTION[0x20] = START_ACTION[0x09] = START_ACTION[0x0a] = START_ACTION[0x0d] = A_WS;
START_ACTION[0x22] = A_DQ;
START_ACTION[0x27] = A_SQ;
START_ACTION[0x30] = A_ZERO;
for (let c = 0x31; c <= 0x39; c++) START_ACTION[c] = A_DIGIT;
START_ACTION[0x2d] = A_MINUS;
for (let c = 0x61; c <= 0x7a; c++) START_ACTION[c] = A_ALPHA;
START_ACTION[0x7b] = T_LCURLY;
START_ACTION[0x7d] = T_RCURLY;
START_ACTION[0x5b] = T_LSQUARE;
START_ACTION[0x5d] = T_RSQUARE;
START_ACTION[0x3a] = T_COLON;
START_ACTION[0x2c] = T_COMMA;

/** Bytes that end error recovery (and are then lexed normally). */
const RESYNC = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) RESYNC[c] = 1;
RESYNC[0x09] = 0;
RESYNC[0xfe] = RESYNC[0xff] = 1;
for (const c of '[]{}:,') RESYNC[c.charCodeAt(0)] = 1;

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

const EMPTY = Buffer.alloc(0);
const TOKEN_SIZE_ERROR = PARSE_ERRORS.tokenSize;
const TOKEN_COUNT_ERROR = PARSE_ERRORS.tokenCount;
const DEPTH_ERROR = PARSE_ERRORS.depth;

export class QmpFramer {
  private readonly maxMessageBytes: number;
  private readonly maxDepth: number;
  private readonly maxTokens: number;
  private readonly maxTokenBytes: number;
  private readonly allowNonFinite: boolean;

  private state = START;
  /** A message is in progress: a token is being lexed or the streamer holds tokens. */
  private active = false;
  /** Message-relative offset of chunk index 0 (valid while active). */
  private base = 0;
  /** Index in the current chunk where the active message began, or -1 if it began in an earlier call. */
  private msgChunkStart = -1;
  /** Offset the current next() call started at. */
  private callOffset = 0;
  private chunk: Buffer = EMPTY;
  /** Earlier bytes of the active message (when it spans chunks). */
  private pend: Buffer = EMPTY;
  private pendLen = 0;
  /** Message-relative start of the token being lexed. */
  private tokStart = 0;

  // Streamer state.
  private toks = new Int32Array(3 * 64);
  private ntok = 0;
  private brace = 0;
  private bracket = 0;
  private tokenBytes = 0;

  constructor(opts: FramerOptions = {}) {
    this.maxMessageBytes = opts.maxMessageBytes ?? QMP_LIMITS.maxMessageBytes;
    this.maxDepth = opts.maxDepth ?? QMP_LIMITS.maxDepth;
    this.maxTokens = opts.maxTokens ?? QMP_LIMITS.maxTokens;
    this.maxTokenBytes = opts.maxTokenBytes ?? QMP_LIMITS.maxTokenBytes;
    this.allowNonFinite = opts.allowNonFinite ?? false;
  }

  /** Bytes of the partially received message currently buffered (0 between messages). */
  get pendingBytes(): number {
    return this.active ? this.pendLen : 0;
  }

  /** Drops partial input and resets lexer and streamer, as QEMU does on disconnect. */
  reset(): void {
    this.state = START;
    this.endMessage();
    this.pend = EMPTY;
  }

  /** All events of a chunk. */
  push(chunk: Buffer): FrameEvent[] {
    const events: FrameEvent[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      const r = this.next(chunk, offset);
      offset = r.offset;
      if (r.event) events.push(r.event);
    }
    return events;
  }

  /**
   * Consumes bytes of `chunk` from `offset` until exactly one event is
   * produced or the chunk is exhausted. Returns the offset just after the
   * last consumed byte, and the event (null when the chunk ran out first).
   * After an 'oversize' event all input is ignored until reset().
   */
  next(chunk: Buffer, offset = 0): { offset: number; event: FrameEvent | null } {
    const n = chunk.length;
    if (this.state === DEAD) return { offset: n, event: null };
    this.chunk = chunk;
    this.callOffset = offset;
    if (this.active) {
      this.base = this.pendLen - offset;
      this.msgChunkStart = -1;
    }
    let state = this.state;
    let i = offset;
    let event: FrameEvent | null = null;

    main: while (i < n) {
      const c = chunk[i]!;
      switch (state) {
        case START: {
          const a = START_ACTION[c]!;
          if (a === A_WS) {
            i++;
            if (!this.active) {
              while (i < n && START_ACTION[chunk[i]!] === A_WS) i++;
              continue main;
            }
            break;
          }
          if (!this.active) this.begin(i);
          this.tokStart = i + this.base;
          i++;
          if (a <= T_COMMA) {
            event = this.token(a, i + this.base);
            if (event) break main;
            break;
          }
          switch (a) {
            case A_DQ:
              state = DQ;
              break;
            case A_SQ:
              state = SQ;
              break;
            case A_ZERO:
              state = ZERO;
              break;
            case A_DIGIT:
              state = DIGITS;
              break;
            case A_MINUS:
              state = SIGN;
              break;
            case A_ALPHA:
              state = KEYWORD;
              break;
            default:
              event = this.stray(i);
              state = RECOVERY;
              break main;
          }
          break;
        }

        case RECOVERY:
          // Not part of any message: skip until a resynchronization byte,
          // which is then lexed from START (lookahead, not consumed).
          while (i < n && RESYNC[chunk[i]!] === 0) i++;
          if (i < n) state = START;
          continue main;

        case DQ:
        case SQ: {
          const quote = state === DQ ? 0x22 : 0x27;
          const lim = this.scanLimit(n);
          while (i < lim) {
            const b = chunk[i]!;
            if (b === quote || b === 0x5c || b < 0x20 || b > 0xfd) break;
            i++;
          }
          if (i === n) break main;
          const b = chunk[i]!;
          i++;
          if (b === quote) {
            state = START;
            event = this.token(T_STRING, i + this.base);
            if (event) break main;
          } else if (b === 0x5c) {
            state = state === DQ ? DQ_ESC : SQ_ESC;
          } else if (b < 0x20 || b > 0xfd) {
            event = this.stray(i);
            state = RECOVERY;
            break main;
          }
          break;
        }

        case DQ_ESC:
        case SQ_ESC:
          i++;
          if (c < 0x20 || c > 0xfd) {
            event = this.stray(i);
            state = RECOVERY;
            break main;
          }
          state = state === DQ_ESC ? DQ : SQ;
          break;

        case ZERO:
          if (isDigit(c)) {
            i++;
            event = this.stray(i);
            state = RECOVERY;
            break main;
          }
          if (c === 0x2e) {
            i++;
            state = MANTISSA;
            break;
          }
          state = START;
          event = this.token(T_INTEGER, i + this.base);
          if (event) break main;
          continue main;

        case DIGITS:
        case MANTISSA_DIGITS:
        case EXP_DIGITS: {
          const lim = this.scanLimit(n);
          while (i < lim && isDigit(chunk[i]!)) i++;
          if (i === n) break main;
          const b = chunk[i]!;
          if (isDigit(b)) {
            i++;
          } else if ((b === 0x65 || b === 0x45) && state !== EXP_DIGITS) {
            i++;
            state = EXP_E;
          } else if (b === 0x2e && state === DIGITS) {
            i++;
            state = MANTISSA;
          } else {
            const type = state === DIGITS ? T_INTEGER : T_FLOAT;
            state = START;
            event = this.token(type, i + this.base);
            if (event) break main;
            continue main;
          }
          break;
        }

        case SIGN:
          i++;
          if (c === 0x30) state = ZERO;
          else if (c >= 0x31 && c <= 0x39) state = DIGITS;
          else if (this.allowNonFinite && c >= 0x61 && c <= 0x7a) state = KEYWORD;
          else {
            event = this.stray(i);
            state = RECOVERY;
            break main;
          }
          break;

        case MANTISSA:
        case EXP_SIGN:
          i++;
          if (isDigit(c)) {
            state = state === MANTISSA ? MANTISSA_DIGITS : EXP_DIGITS;
            break;
          }
          event = this.stray(i);
          state = RECOVERY;
          break main;

        case EXP_E:
          i++;
          if (isDigit(c)) state = EXP_DIGITS;
          else if (c === 0x2b || c === 0x2d) state = EXP_SIGN;
          else {
            event = this.stray(i);
            state = RECOVERY;
            break main;
          }
          break;

        case KEYWORD: {
          const lim = this.scanLimit(n);
          while (i < lim && chunk[i]! >= 0x61 && chunk[i]! <= 0x7a) i++;
          if (i === n) break main;
          const b = chunk[i]!;
          if (b >= 0x61 && b <= 0x7a) {
            i++;
            break;
          }
          state = START;
          event = this.token(T_KEYWORD, i + this.base);
          if (event) break main;
          continue main;
        }
      }

      // A byte was consumed into the active message: enforce the limits.
      if (this.active) {
        const end = i + this.base;
        if (state >= DQ && end - this.tokStart > this.maxTokenBytes) {
          // json-lexer.c: a token longer than MAX_TOKEN_SIZE is flushed to
          // the streamer, which rejects it; lexing restarts from START.
          state = START;
          event = this.fail(TOKEN_SIZE_ERROR);
          break main;
        }
        if (end > this.maxMessageBytes) {
          state = DEAD;
          this.endMessage();
          event = { type: 'oversize', limit: this.maxMessageBytes };
          break main;
        }
      }
    }

    this.state = event?.type === 'oversize' ? DEAD : state;
    if (i === n && event === null && this.active) this.savePending(n);
    this.chunk = EMPTY; // never keep the caller's buffer alive between calls
    return { offset: i, event };
  }

  /** The largest chunk index (exclusive) that can be consumed into the current token without hitting a limit. */
  private scanLimit(n: number): number {
    const byMessage = this.maxMessageBytes - this.base;
    const byToken = this.tokStart - this.base + this.maxTokenBytes;
    return Math.min(n, byMessage, byToken);
  }

  private begin(i: number): void {
    this.active = true;
    this.base = -i;
    this.msgChunkStart = i;
    this.pendLen = 0;
  }

  private endMessage(): void {
    this.active = false;
    this.pendLen = 0;
    if (this.pend.length > 65536) this.pend = EMPTY; // don't hold on to a huge message's buffer
    this.msgChunkStart = -1;
    this.ntok = 0;
    this.brace = 0;
    this.bracket = 0;
    this.tokenBytes = 0;
  }

  /** Keeps the active message's bytes of the exhausted chunk. */
  private savePending(n: number): void {
    const from = this.msgChunkStart >= 0 ? this.msgChunkStart : this.callOffset;
    const add = n - from;
    if (this.pendLen + add > this.pend.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.pendLen + add, this.pend.length * 2, 256));
      this.pend.copy(grown, 0, 0, this.pendLen);
      this.pend = grown;
    }
    this.chunk.copy(this.pend, this.pendLen, from, n);
    this.pendLen += add;
    this.msgChunkStart = -1;
  }

  /** Bytes [a, b) of the active message (message-relative). Copies only if they span chunks. */
  private slice(a: number, b: number): Buffer {
    const chunkA = a - this.base;
    if (this.msgChunkStart >= 0 || chunkA >= this.callOffset) {
      return this.chunk.subarray(chunkA, b - this.base);
    }
    const out = Buffer.allocUnsafe(b - a);
    const fromPend = Math.min(b, this.pendLen) - a;
    this.pend.copy(out, 0, a, a + fromPend);
    if (b > this.pendLen) this.chunk.copy(out, fromPend, this.callOffset, b - this.base);
    return out;
  }

  private fail(desc: string): FrameEvent {
    this.endMessage();
    return { type: 'error', desc };
  }

  /** A lexical error: the token so far, including the offending byte (chunk index iAfter - 1). */
  private stray(iAfter: number): FrameEvent {
    const text = this.slice(this.tokStart, iAfter + this.base);
    return this.fail(`JSON parse error, stray '${decodeLossy(text, 0, text.length)}'`);
  }

  /** The streamer (json_message_process_token) receives a token that ended at message offset `end`. */
  private token(type: number, end: number): FrameEvent | null {
    switch (type) {
      case T_LCURLY:
        this.brace++;
        break;
      case T_RCURLY:
        this.brace--;
        break;
      case T_LSQUARE:
        this.bracket++;
        break;
      case T_RSQUARE:
        this.bracket--;
        break;
    }
    const start = this.tokStart;
    const len = end - start;
    if (this.tokenBytes + len + 1 > this.maxTokenBytes) return this.fail(TOKEN_SIZE_ERROR);
    if (this.ntok + 1 > this.maxTokens) return this.fail(TOKEN_COUNT_ERROR);
    if (this.bracket + this.brace > this.maxDepth) return this.fail(DEPTH_ERROR);

    let toks = this.toks;
    const k = this.ntok * 3;
    if (k + 3 > toks.length) {
      const grown = new Int32Array(toks.length * 2);
      grown.set(toks);
      this.toks = toks = grown;
    }
    toks[k] = type;
    toks[k + 1] = start;
    toks[k + 2] = end;
    this.ntok++;
    this.tokenBytes += len;

    if ((this.brace > 0 || this.bracket > 0) && this.brace >= 0 && this.bracket >= 0) return null;

    if (end > this.maxMessageBytes) {
      this.endMessage();
      this.state = DEAD;
      return { type: 'oversize', limit: this.maxMessageBytes };
    }
    const raw = this.slice(0, end);
    const root = parseTokens(raw, toks, this.ntok, this.allowNonFinite);
    this.endMessage();
    if (root instanceof ParseFailure) return { type: 'error', desc: root.desc };
    return { type: 'message', raw, root };
  }
}

const MESSAGE_END = Buffer.from(' ');

/**
 * Parse one complete message (a reply, an event, a greeting: bytes QEMU or qmpmux wrote), as QEMU's
 * output is parsed: `inf`/`nan` allowed, no size cap. Undefined when the bytes are not one JSON message.
 */
export function parseMessage(bytes: Buffer | string): JsonNode | undefined {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  const events = new QmpFramer({ allowNonFinite: true, maxMessageBytes: Number.MAX_SAFE_INTEGER }).push(Buffer.concat([buf, MESSAGE_END]));
  const m = events.find((e) => e.type === 'message');
  return m && m.type === 'message' ? m.root : undefined;
}
