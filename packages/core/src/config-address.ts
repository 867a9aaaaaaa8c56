/** Addresses in the config, checked as the transports read them; a ConfigError names the field. */
import { parseAddress } from '@qmpmux/transports';
import { ConfigError } from './config-error.ts';
import * as v from './validate.ts';

export interface AddressRule {
  /** QEMU's QMP socket: only unix:PATH or tcp:HOST:PORT. */
  upstream?: boolean;
  /** A discovery template: `{name}` stands for each VM's name. */
  template?: boolean;
}

export function address(raw: unknown, path: string, rule: AddressRule = {}): string {
  const text = v.string(raw, path);
  let kind: string;
  try {
    kind = parseAddress(rule.template ? text.replaceAll('{name}', 'x') : text).kind;
  } catch (e) {
    throw new ConfigError(path, e instanceof TypeError ? `bad address '${text}': not a URL` : (e as Error).message);
  }
  if (rule.upstream && kind !== 'unix' && kind !== 'tcp') throw new ConfigError(path, `bad address '${text}': QEMU's QMP socket is unix:PATH or tcp:HOST:PORT`);
  return text;
}

export function addresses(raw: unknown, path: string, rule: AddressRule = {}): string[] {
  return v.array(raw, path, (x, p) => address(x, p, rule));
}
