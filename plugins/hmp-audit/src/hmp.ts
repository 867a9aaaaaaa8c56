/** HMP text the plugin judges: secrets to redact from a command line, failures inside a successful reply. */
import type { HmpCommand } from '@qmpmux/audit-log';

/**
 * The command line with secrets replaced by `<redacted>`: `set_password PROTO PASSWORD …`,
 * `change vnc password PASSWORD`, and `data=` of `object_add secret,…`. Returns undefined when nothing
 * was redacted.
 */
export function redactHmpLine(line: string, cmd: HmpCommand): string | undefined {
  const R = '<redacted>';
  const prefix = line.slice(0, line.length - cmd.args.length);
  const args = cmd.args;
  if (cmd.name === 'set_password') {
    const m = /^(\S+\s+)(\S+)(.*)$/s.exec(args);
    return m ? `${prefix}${m[1]}${R}${m[3]}` : undefined;
  }
  if (cmd.name === 'change') {
    const m = /^(vnc\s+password)(\s+\S.*)?$/s.exec(args);
    return m && m[2] ? `${prefix}${m[1]} ${R}` : undefined;
  }
  if (cmd.name === 'object_add') {
    const first = /^([^,\s]*)/.exec(args)![1]!;
    const isSecret = first === 'secret' || /(^|,)qom-type=secret(,|$)/.test(args.replace(/,,/g, ''));
    if (!isSecret) return undefined;
    const red = args.replace(/(^|,)(data=)((?:[^,]|,,)*)/g, `$1$2${R}`);
    return red !== args ? prefix + red : undefined;
  }
  return undefined;
}

export type HmpFailure = 'error' | 'unknown-command' | 'usage';

/**
 * HMP failures come back as successful QMP replies carrying text: a line starting `Error: ` or
 * `unknown command: `, or a parse error ending `Try "help X" for more information`.
 */
export function classifyHmpText(text: string): HmpFailure | undefined {
  if (!text.includes('Error: ') && !text.includes('unknown command: ') && !text.includes('Try "help ')) return undefined;
  for (const l of text.split(/\r?\n/)) {
    if (l.startsWith('Error: ')) return 'error';
    if (l.startsWith('unknown command: ')) return 'unknown-command';
    if (/^Try "help .*" for more information$/.test(l)) return 'usage';
  }
  return undefined;
}
