export { hmpAuditPlugin, createHmpAudit, hmpAuditPlugin as default } from './plugin.ts';
export { auditCommand, AUDIT_USAGE } from './cli.ts';
export { validateOptions, type HmpAuditOptions } from './options.ts';
export { parseHmp, normalizeHmpName, matchHmpName, classifyHmpText, redactHmpLine, HMP_ALIASES, type HmpCommand, type HmpFailure } from './hmp.ts';
export { Policy, DESTRUCTIVE, DEFAULT_RULE, type Rule, type Decision } from './rules.ts';
export { redactArguments, compileRedactions, parsePath, DEFAULT_REDACTIONS, REDACTED, type RedactRule } from './redact.ts';
export * from './log/index.ts';
