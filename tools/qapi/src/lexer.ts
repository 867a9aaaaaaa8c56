/**
 * Lexer for the QAPI schema dialect of JSON (QMP-NOTES §9, QEMU scripts/qapi/parser.py).
 *
 * - strings are single-quoted, printable ASCII only, and the only escape is `\\`;
 * - `true` and `false` are the only bare words; no numbers, no `null`, no double quotes;
 * - `#` starts a comment to end of line; `##` starts a documentation comment, whose lines
 *   the lexer returns as `#` tokens when asked to (see {@link Lexer.next}).
 */
import { QapiError, type SourceInfo } from './source.ts';

export type TokenKind = '{' | '}' | '[' | ']' | ':' | ',' | 'string' | 'bool' | '#' | 'eof';

export interface Token {
  readonly kind: TokenKind;
  /** String value for `string`, the comment text (from `#` to end of line) for `#`. */
  readonly text: string;
  /** Value for `bool`. */
  readonly bool: boolean;
  readonly info: SourceInfo;
}

export class Lexer {
  private readonly src: string;
  private cursor = 0;
  private line = 1;
  private lineStart = 0;

  constructor(
    src: string,
    private readonly file: string,
    private readonly includedFrom?: SourceInfo,
  ) {
    this.src = src.endsWith('\n') ? src : `${src}\n`;
  }

  /** Position of the character at `pos` (on the current line). */
  infoAt(pos: number): SourceInfo {
    return { file: this.file, line: this.line, col: pos - this.lineStart + 1, includedFrom: this.includedFrom };
  }

  /**
   * The next token. Plain `#` comments are skipped unless `keepComments`; a `##` comment is
   * always returned, since it opens a documentation comment.
   */
  next(keepComments = false): Token {
    for (;;) {
      const pos = this.cursor;
      if (pos >= this.src.length) return this.token('eof', pos);
      const ch = this.src[pos]!;
      this.cursor++;
      switch (ch) {
        case '#': {
          const end = this.src.indexOf('\n', pos);
          this.cursor = end;
          if (keepComments || this.src[pos + 1] === '#') {
            return this.token('#', pos, this.src.slice(pos, end));
          }
          continue;
        }
        case '{': case '}': case '[': case ']': case ':': case ',':
          return this.token(ch, pos);
        case "'":
          return this.token('string', pos, this.lexString(pos));
        case '\n':
          this.line++;
          this.lineStart = this.cursor;
          continue;
        default:
          break;
      }
      if (this.src.startsWith('true', pos)) {
        this.cursor = pos + 4;
        return { ...this.token('bool', pos), bool: true };
      }
      if (this.src.startsWith('false', pos)) {
        this.cursor = pos + 5;
        return { ...this.token('bool', pos), bool: false };
      }
      if (/\s/.test(ch)) continue;
      const stray = /^[^[\]{}:,\s']+/.exec(this.src.slice(pos))?.[0] ?? ch;
      throw new QapiError('QAPI_SYNTAX', this.infoAt(pos), `stray '${stray}'`);
    }
  }

  private lexString(start: number): string {
    let out = '';
    let escaped = false;
    for (;;) {
      const pos = this.cursor;
      const ch = this.src[pos]!;
      this.cursor++;
      if (ch === '\n') {
        throw new QapiError('QAPI_SYNTAX', this.infoAt(start), `missing terminating "'"`);
      }
      if (escaped) {
        if (ch !== '\\') {
          throw new QapiError('QAPI_SYNTAX', this.infoAt(pos - 1), `unknown escape \\${ch}`);
        }
        escaped = false;
      } else if (ch === '\\') {
        escaped = true;
        continue;
      } else if (ch === "'") {
        return out;
      }
      const code = ch.charCodeAt(0);
      if (code < 0x20 || code > 0x7e) {
        throw new QapiError('QAPI_SYNTAX', this.infoAt(pos), 'funny character in string');
      }
      out += ch;
    }
  }

  private token(kind: TokenKind, pos: number, text = ''): Token {
    return { kind, text, bool: false, info: this.infoAt(pos) };
  }
}
