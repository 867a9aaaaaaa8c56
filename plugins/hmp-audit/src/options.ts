/**
 * Options of the hmp-audit plugin, validated at start-up (every failure names the bad field's path).
 *
 *   {
 *     "path": "/var/log/qmpmux/audit.log",        required; rotated files sit next to it
 *     "format": "json" | "msgpack",               default "json"
 *     "fsync": "always" | "batch",                default "always"
 *     "batch": { "maxRecords": 256, "maxDelayMs": 100 },  fsync "batch": at most this many records / this long unsynced
 *     "rotate": { "maxBytes": 67108864 },         0 = never rotate
 *     "hmacKeyFile": PATH | "hmacKeyEnv": VAR,    key the chain (HMAC-SHA256), at least 16 bytes
 *     "failClosed": true,                         refuse audited commands while the log cannot be written
 *     "fileMode": "0600",
 *     "rules": [ { "name"?, "action": "allow"|"deny", "commands": ["quit", "info *"], "principals"?: ["alice"] } ],
 *     "operators": ["ops"],
 *     "unauthenticatedIsOperator": true,          a client no policy plugin named counts as an operator
 *     "destructiveDefault": true,                 refuse DESTRUCTIVE commands to non-operators when no rule matched
 *     "auditAllQmp": false,                       record every QMP command, not only human-monitor-command
 *     "redact": [ { "command": "blockdev-add", "when"?: {…}, "paths": ["$..key-secret"] } ],
 *     "redactDefaults": true,
 *     "maxTextBytes": 16384                        longer command lines and reply texts are cut (and marked)
 *   }
 */
import { ConfigError, validate as v, type JsonPlain } from '@qmpmux/core';
import { loadKey, normalizeHmpName, type WriterOptions } from '@qmpmux/audit-log';
import { parsePath, type RedactRule } from './redact.ts';
import type { Rule } from './rules.ts';

/** The log's own options (as the audit-log writer takes them) and the plugin's. */
export interface HmpAuditOptions extends Omit<WriterOptions, 'log' | 'key' | 'fileMode' | 'onFailure'> {
  key: Buffer | undefined;
  fileMode: number;
  failClosed: boolean;
  rules: Rule[];
  operators: string[];
  unauthenticatedIsOperator: boolean;
  destructiveDefault: boolean;
  auditAllQmp: boolean;
  redact: RedactRule[];
  redactDefaults: boolean;
  maxTextBytes: number;
}

const FIELDS = [
  'path', 'format', 'fsync', 'batch', 'rotate', 'hmacKeyFile', 'hmacKeyEnv', 'failClosed', 'fileMode', 'rules', 'operators',
  'unauthenticatedIsOperator', 'destructiveDefault', 'auditAllQmp', 'redact', 'redactDefaults', 'maxTextBytes',
];

export function validateOptions(options: unknown, path: string): HmpAuditOptions {
  const o = v.object(options, path, FIELDS);
  if (o.path === undefined) throw new ConfigError(`${path}.path`, 'required: the audit log file');
  const batch = v.object(o.batch ?? {}, `${path}.batch`, ['maxRecords', 'maxDelayMs']);
  const rotate = v.object(o.rotate ?? {}, `${path}.rotate`, ['maxBytes']);
  if (o.hmacKeyFile !== undefined && o.hmacKeyEnv !== undefined) throw new ConfigError(`${path}.hmacKeyEnv`, 'give hmacKeyFile or hmacKeyEnv, not both');
  const keyFile = v.optString(o.hmacKeyFile, `${path}.hmacKeyFile`);
  const keyEnv = v.optString(o.hmacKeyEnv, `${path}.hmacKeyEnv`);
  let key: Buffer | undefined;
  try {
    key = loadKey({ file: keyFile, env: keyEnv });
  } catch (e) {
    throw new ConfigError(`${path}.${keyFile !== undefined ? 'hmacKeyFile' : 'hmacKeyEnv'}`, (e as Error).message);
  }
  if (key && key.length < 16) throw new ConfigError(`${path}.${keyFile !== undefined ? 'hmacKeyFile' : 'hmacKeyEnv'}`, `the key is ${key.length} bytes; at least 16 are needed`);
  let fileMode = 0o600;
  if (o.fileMode !== undefined) {
    if (typeof o.fileMode !== 'string' || !/^0?[0-7]{3}$/.test(o.fileMode)) throw new ConfigError(`${path}.fileMode`, 'expected an octal mode such as "0600"');
    fileMode = parseInt(o.fileMode, 8);
  }
  return {
    path: v.string(o.path, `${path}.path`),
    format: v.oneOf(o.format, `${path}.format`, ['json', 'msgpack'] as const, 'json'),
    fsync: v.oneOf(o.fsync, `${path}.fsync`, ['always', 'batch'] as const, 'always'),
    batchMaxRecords: v.int(batch.maxRecords, `${path}.batch.maxRecords`, 256, 1, 1_000_000),
    batchMaxDelayMs: v.int(batch.maxDelayMs, `${path}.batch.maxDelayMs`, 100, 1, 60_000),
    rotateBytes: v.int(rotate.maxBytes, `${path}.rotate.maxBytes`, 64 * 1024 * 1024, 0),
    key,
    failClosed: v.bool(o.failClosed, `${path}.failClosed`, true),
    fileMode,
    rules: v.array(o.rules, `${path}.rules`, (r, rp) => rule(r, rp)),
    operators: v.array(o.operators, `${path}.operators`, v.string),
    unauthenticatedIsOperator: v.bool(o.unauthenticatedIsOperator, `${path}.unauthenticatedIsOperator`, true),
    destructiveDefault: v.bool(o.destructiveDefault, `${path}.destructiveDefault`, true),
    auditAllQmp: v.bool(o.auditAllQmp, `${path}.auditAllQmp`, false),
    redact: v.array(o.redact, `${path}.redact`, redactRule),
    redactDefaults: v.bool(o.redactDefaults, `${path}.redactDefaults`, true),
    maxTextBytes: v.int(o.maxTextBytes, `${path}.maxTextBytes`, 16 * 1024, 64),
  };
}

function rule(raw: unknown, p: string): Rule {
  const r = v.object(raw, p, ['name', 'action', 'commands', 'principals']);
  if (r.action === undefined) throw new ConfigError(`${p}.action`, 'required: "allow" or "deny"');
  const commands = v.array(r.commands, `${p}.commands`, v.string).map(normalizeHmpName);
  if (!commands.length) throw new ConfigError(`${p}.commands`, 'expected at least one HMP command name (or "*")');
  const out: Rule = {
    name: v.optString(r.name, `${p}.name`) ?? p.replace(/^.*\.(rules\[\d+\])$/, '$1'),
    action: v.oneOf(r.action, `${p}.action`, ['allow', 'deny'] as const, 'deny'),
    commands,
  };
  if (r.principals !== undefined) out.principals = v.array(r.principals, `${p}.principals`, v.string);
  return out;
}

function redactRule(raw: unknown, p: string): RedactRule {
  const r = v.object(raw, p, ['command', 'when', 'paths']);
  const paths = v.array(r.paths, `${p}.paths`, v.string);
  if (!paths.length) throw new ConfigError(`${p}.paths`, 'expected at least one JSON path');
  paths.forEach((x, i) => {
    try {
      parsePath(x);
    } catch (e) {
      throw new ConfigError(`${p}.paths[${i}]`, (e as Error).message);
    }
  });
  const out: RedactRule = { command: v.string(r.command, `${p}.command`), paths };
  if (r.when !== undefined) out.when = v.object(r.when, `${p}.when`) as Record<string, JsonPlain>;
  return out;
}
