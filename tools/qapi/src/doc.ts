/**
 * Parser for QAPI documentation comments (QMP-NOTES §9 "Doc comments"; QEMU
 * docs/devel/qapi-code-gen.rst and scripts/qapi/parser.py, both the 7.2 and the current
 * rules).
 *
 * A block between two `##` lines is either
 * - definition documentation: its first line is `@Name:`, then an overview, member
 *   descriptions `@member: text`, a `Features:` line with `@feature: text` entries, tagged
 *   sections (`Since:`, `Returns:`, `Errors:`, `TODO:`, and the 7.x `Note(s):` and
 *   `Example(s):`), rST directives (`.. note::`, `.. qmp-example::`), and free rST text; or
 * - free-form documentation: rST text, optionally opening with an `=` heading.
 *
 * Continuation lines are normally indented (4 spaces in current QEMU, aligned with the text
 * in 7.2). Some copies of the schema have lost their indentation; the rules below accept
 * both: a description runs until a blank line that is followed by an unindented line, or
 * until the next line that starts a section at column 0.
 */
import { QapiError, type SourceInfo } from './source.ts';

/** One line of a doc comment with the `# ` prefix removed and trailing space trimmed. */
export interface DocLine {
  readonly text: string;
  /** Position of the first character of `text`. */
  readonly info: SourceInfo;
}

/** Tags of tagged sections. `Note(s)` and `Example(s)` are the 7.x forms. */
export type DocTag = 'Since' | 'Returns' | 'Errors' | 'TODO' | 'Note' | 'Notes' | 'Example' | 'Examples';

export type DocSection =
  /** rST text: the overview and any untagged paragraph, including unknown directives. */
  | { readonly kind: 'text'; readonly text: string; readonly info: SourceInfo }
  /** `@member: text` */
  | { readonly kind: 'member'; readonly name: string; readonly text: string; readonly info: SourceInfo }
  /** `@feature: text` after `Features:` */
  | { readonly kind: 'feature'; readonly name: string; readonly text: string; readonly info: SourceInfo }
  /** `Tag: text` */
  | { readonly kind: 'tagged'; readonly tag: DocTag; readonly text: string; readonly info: SourceInfo }
  /** An rST admonition: `.. note::`, `.. warning::`, … */
  | { readonly kind: 'admonition'; readonly admonition: string; readonly text: string; readonly info: SourceInfo }
  /** `.. qmp-example::` with its `:title:` and `:annotated:` options. */
  | {
      readonly kind: 'qmp-example';
      readonly title?: string;
      readonly annotated: boolean;
      readonly text: string;
      readonly info: SourceInfo;
    };

/** An example, whichever way it was written. */
export interface DocExample {
  /** `section`: a 7.x `Example:`/`Examples:` section; `qmp-example`: the current directive. */
  readonly form: 'section' | 'qmp-example';
  readonly title?: string;
  readonly annotated: boolean;
  /** The example text, common indentation removed. */
  readonly text: string;
  readonly info: SourceInfo;
}

export interface QapiDoc {
  /** Position of the opening `##`. */
  readonly info: SourceInfo;
  /** The documented definition; undefined for free-form documentation. */
  readonly symbol?: string;
  /** `= Title` (level 1), `== Title` (level 2)… of a free-form block. */
  readonly heading?: { readonly level: number; readonly text: string };
  /** All sections in source order. */
  readonly sections: readonly DocSection[];
  /** The untagged text sections joined by blank lines. */
  readonly body: string;
  /** Member descriptions by member name. */
  readonly members: ReadonlyMap<string, string>;
  /** Feature descriptions by feature name. */
  readonly features: ReadonlyMap<string, string>;
  readonly since?: string;
  readonly returns?: string;
  readonly errors?: string;
  readonly todo?: string;
  /** `Note:`/`Notes:` sections and `.. note::` (and other admonition) directives. */
  readonly notes: readonly string[];
  readonly examples: readonly DocExample[];
}

const TAG_RE = /^(Returns|Errors|Since|Notes?|Examples?|TODO):(?!:)\s*(.*)$/;
const AT_NAME_RE = /^@([^:\s]*):(?:\s+(.*))?$/;
const DIRECTIVE_RE = /^\.\. ([A-Za-z0-9-]+)::(?:\s+(.*))?$/;
const OPTION_RE = /^\s*:([A-Za-z-]+):(?:\s+(.*))?$/;
const ADMONITIONS = new Set([
  'note', 'warning', 'caution', 'important', 'tip', 'hint', 'danger', 'attention', 'error', 'admonition', 'seealso',
]);
const UNIQUE_TAGS = new Set<DocTag>(['Since', 'Returns', 'Errors']);

function indentOf(text: string): number {
  return /^\s*/.exec(text)![0].length;
}

/** A line at column 0 that opens a new section. */
function startsSection(text: string): boolean {
  if (text === '' || indentOf(text) > 0) return false;
  return text === 'Features:' || AT_NAME_RE.test(text) || TAG_RE.test(text) || DIRECTIVE_RE.test(text);
}

/** Remove the common indentation of the non-blank lines, and leading/trailing blank lines. */
export function dedent(lines: readonly string[]): string {
  const body = [...lines];
  while (body.length && body[0] === '') body.shift();
  while (body.length && body[body.length - 1] === '') body.pop();
  const indents = body.filter((l) => l !== '').map(indentOf);
  const common = indents.length ? Math.min(...indents) : 0;
  return body.map((l) => l.slice(common)).join('\n');
}

/** Parse the lines of one `##` block. `info` is the opening `##`. */
export function parseDoc(info: SourceInfo, lines: readonly DocLine[]): QapiDoc {
  return new DocParser(info, lines).parse();
}

class DocParser {
  private i = 0;
  private readonly sections: DocSection[] = [];

  constructor(
    private readonly info: SourceInfo,
    private readonly lines: readonly DocLine[],
  ) {}

  parse(): QapiDoc {
    const first = this.lines[0];
    if (first?.text.startsWith('@')) return this.definitionDoc(first);
    return this.freeFormDoc();
  }

  private error(line: DocLine, message: string): QapiError {
    return new QapiError('QAPI_DOC', line.info, message);
  }

  private get line(): DocLine | undefined {
    return this.lines[this.i];
  }

  private skipBlank(): void {
    while (this.line?.text === '') this.i++;
  }

  private freeFormDoc(): QapiDoc {
    let heading: QapiDoc['heading'];
    const text: string[] = [];
    this.lines.forEach((line, n) => {
      const at = AT_NAME_RE.exec(line.text);
      if (at) throw this.error(line, `'@${at[1]}:' not allowed in free-form documentation`);
      // Current QEMU allows a heading only on the first line; 7.2 let later ones through as
      // text (its qapi-schema.json has one), and so do we.
      if (line.text.startsWith('=') && n === 0) {
        const m = /^(=+)\s+(\S.*)$/.exec(line.text);
        if (!m) throw this.error(line, "'=' heading needs a title: '= Title'");
        heading = { level: m[1]!.length, text: m[2]! };
        return;
      }
      text.push(line.text);
    });
    const body = dedent(text);
    if (body) this.sections.push({ kind: 'text', text: body, info: this.lines[0]!.info });
    return this.finish(undefined, heading);
  }

  private definitionDoc(first: DocLine): QapiDoc {
    if (!first.text.endsWith(':')) throw this.error(first, "line should end with ':'");
    const symbol = first.text.slice(1, -1);
    if (!symbol) throw this.error(first, "name required after '@'");
    if (/\s/.test(symbol)) throw this.error(first, `invalid name '${symbol}' after '@'`);
    this.i = 1;
    let noMoreMembers = false;
    let sawFeatures = false;
    for (;;) {
      this.skipBlank();
      const line = this.line;
      if (!line) break;
      const text = line.text;
      let m: RegExpExecArray | null;
      if (text === 'Features:') {
        if (sawFeatures) throw this.error(line, "duplicated 'Features:' line");
        sawFeatures = true;
        this.i++;
        this.skipBlank();
        let count = 0;
        while (this.line && AT_NAME_RE.test(this.line.text)) {
          this.describedItem('feature');
          count++;
          this.skipBlank();
        }
        if (!count) throw this.error(this.line ?? line, "feature descriptions expected after 'Features:'");
        noMoreMembers = true;
      } else if ((m = AT_NAME_RE.exec(text))) {
        if (noMoreMembers) throw this.error(line, `description of '@${m[1]}:' follows a section`);
        while (this.line && AT_NAME_RE.test(this.line.text)) {
          this.describedItem('member');
          this.skipBlank();
        }
        noMoreMembers = true;
      } else if ((m = TAG_RE.exec(text))) {
        this.taggedSection(line, m[1] as DocTag, m[2] ?? '');
        noMoreMembers = true;
      } else if ((m = DIRECTIVE_RE.exec(text))) {
        this.directive(line, m[1]!, m[2] ?? '');
      } else if (text.startsWith('=')) {
        throw this.error(line, "unexpected '=' markup in definition documentation");
      } else {
        this.paragraph();
      }
    }
    return this.finish(symbol, undefined);
  }

  /** `@name: text` with its continuation, as a member or feature description. */
  private describedItem(kind: 'member' | 'feature'): void {
    const line = this.line!;
    const m = AT_NAME_RE.exec(line.text)!;
    const name = m[1]!;
    if (!name) throw this.error(line, "name required after '@'");
    const seen = this.sections.some((s) => s.kind === kind && s.name === name);
    if (seen) throw this.error(line, `duplicated description of ${kind} '@${name}'`);
    const body = this.indentedContinuation([m[2] ?? '']);
    this.sections.push({ kind, name, text: body, info: line.info });
  }

  private taggedSection(line: DocLine, tag: DocTag, first: string): void {
    if (UNIQUE_TAGS.has(tag) && this.sections.some((s) => s.kind === 'tagged' && s.tag === tag)) {
      throw this.error(line, `duplicated '${tag}' section`);
    }
    // The 7.x-only tags run to the next section (as 7.2's parser read them): examples hold
    // unindented prose and blank lines.
    const legacy = tag === 'Note' || tag === 'Notes' || tag === 'Example' || tag === 'Examples';
    const text = legacy ? this.untilNextSection([first]) : this.indentedContinuation([first]);
    this.sections.push({ kind: 'tagged', tag, text, info: line.info });
  }

  /**
   * Lines after a section's first line: the rest of its first paragraph (up to a blank line
   * or a line starting a section), then further paragraphs while they are indented.
   */
  private indentedContinuation(acc: string[]): string {
    this.i++;
    this.restOfParagraph(acc);
    for (;;) {
      let j = this.i;
      while (this.lines[j]?.text === '') j++;
      const next = this.lines[j];
      if (!next || indentOf(next.text) === 0 || j === this.i) break;
      for (; this.i < j; this.i++) acc.push('');
      this.restOfParagraph(acc);
    }
    return joinContinued(acc);
  }

  private restOfParagraph(acc: string[]): void {
    while (this.line && this.line.text !== '' && !startsSection(this.line.text)) {
      acc.push(this.line.text);
      this.i++;
    }
  }

  /** Lines up to the next line that starts a section at column 0, blank lines included. */
  private untilNextSection(acc: string[]): string {
    this.i++;
    while (this.line && !startsSection(this.line.text)) {
      acc.push(this.line.text);
      this.i++;
    }
    return joinContinued(acc);
  }

  private directive(line: DocLine, name: string, arg: string): void {
    const start = this.i;
    this.i++;
    const options = new Map<string, string>();
    let m: RegExpExecArray | null;
    while (this.line && (m = OPTION_RE.exec(this.line.text))) {
      options.set(m[1]!, m[2] ?? '');
      this.i++;
    }
    // Find out whether the content is indented (rST) or has lost its indentation.
    let j = this.i;
    while (this.lines[j]?.text === '') j++;
    const next = this.lines[j];
    const flush = next !== undefined && indentOf(next.text) === 0 && !startsSection(next.text);
    const content: string[] = [];
    if (this.line && this.line.text !== '' && flush) {
      // unindented text straight after the directive: indentation was lost
      while (this.line && !startsSection(this.line.text)) content.push(this.lines[this.i++]!.text);
    } else if (next && indentOf(next.text) > 0) {
      while (this.line && (this.line.text === '' || indentOf(this.line.text) > 0)) {
        content.push(this.lines[this.i++]!.text);
      }
    } else if (flush && (name === 'qmp-example' || !arg)) {
      // a directive that needs content, followed by unindented lines: indentation was lost
      while (this.line && !startsSection(this.line.text)) content.push(this.lines[this.i++]!.text);
    }
    const text = dedent(content);
    if (name === 'qmp-example') {
      for (const key of options.keys()) {
        if (key !== 'title' && key !== 'annotated') {
          throw this.error(this.lines[start + 1 + [...options.keys()].indexOf(key)]!, `unknown qmp-example option ':${key}:'`);
        }
      }
      if (!text) throw this.error(line, 'qmp-example without content');
      const title = options.get('title');
      this.sections.push({
        kind: 'qmp-example',
        ...(title !== undefined ? { title } : {}),
        annotated: options.has('annotated'),
        text,
        info: line.info,
      });
    } else if (ADMONITIONS.has(name)) {
      this.sections.push({ kind: 'admonition', admonition: name, text: joinParts(arg, text, content[0] === ''), info: line.info });
    } else {
      const raw = this.lines.slice(start, this.i).map((l) => l.text);
      this.appendText(dedent(raw), line.info);
    }
  }

  /** An untagged paragraph: lines up to a blank line or a section start. */
  private paragraph(): void {
    const line = this.line!;
    const acc: string[] = [line.text];
    this.i++;
    this.restOfParagraph(acc);
    this.appendText(dedent(acc), line.info);
  }

  private appendText(text: string, info: SourceInfo): void {
    const last = this.sections[this.sections.length - 1];
    if (last?.kind === 'text') {
      this.sections[this.sections.length - 1] = { kind: 'text', text: `${last.text}\n\n${text}`, info: last.info };
    } else {
      this.sections.push({ kind: 'text', text, info });
    }
  }

  private finish(symbol: string | undefined, heading: QapiDoc['heading']): QapiDoc {
    const sections = this.sections;
    const tagged = (...tags: DocTag[]): string[] =>
      sections.flatMap((s) => (s.kind === 'tagged' && tags.includes(s.tag) ? [s.text] : []));
    const members = new Map<string, string>();
    const features = new Map<string, string>();
    const notes: string[] = [];
    const examples: DocExample[] = [];
    for (const s of sections) {
      if (s.kind === 'member') members.set(s.name, s.text);
      else if (s.kind === 'feature') features.set(s.name, s.text);
      else if (s.kind === 'admonition') notes.push(s.text);
      else if (s.kind === 'tagged' && (s.tag === 'Note' || s.tag === 'Notes')) notes.push(s.text);
      else if (s.kind === 'tagged' && (s.tag === 'Example' || s.tag === 'Examples')) {
        examples.push({ form: 'section', annotated: false, text: s.text, info: s.info });
      } else if (s.kind === 'qmp-example') {
        examples.push({
          form: 'qmp-example',
          ...(s.title !== undefined ? { title: s.title } : {}),
          annotated: s.annotated,
          text: s.text,
          info: s.info,
        });
      }
    }
    const one = (tag: DocTag): string | undefined => tagged(tag)[0];
    const doc: QapiDoc = {
      info: this.info,
      ...(symbol !== undefined ? { symbol } : {}),
      ...(heading ? { heading } : {}),
      sections,
      body: sections.flatMap((s) => (s.kind === 'text' ? [s.text] : [])).join('\n\n'),
      members,
      features,
      notes,
      examples,
    };
    const extra: { since?: string; returns?: string; errors?: string; todo?: string } = {};
    const since = one('Since');
    const returns = one('Returns');
    const errors = one('Errors');
    const todo = tagged('TODO').join('\n\n');
    if (since !== undefined) extra.since = since;
    if (returns !== undefined) extra.returns = returns;
    if (errors !== undefined) extra.errors = errors;
    if (todo) extra.todo = todo;
    return { ...doc, ...extra };
  }
}

/**
 * Join a section's first line (the text after the tag) with its continuation lines: the
 * continuation keeps its relative indentation.
 */
function joinContinued(acc: readonly string[]): string {
  const [first = '', ...rest] = acc;
  return joinParts(first.trim(), dedent(rest), rest[0] === '');
}

/** `head` and `tail` as one text; `paragraph` puts a blank line between them. */
function joinParts(head: string, tail: string, paragraph = false): string {
  if (!head) return tail;
  if (!tail) return head;
  return `${head}${paragraph ? '\n\n' : '\n'}${tail}`;
}
