export { hmpAuditPlugin, createHmpAudit, hmpAuditPlugin as default } from './plugin.ts';
export { validateOptions, type HmpAuditOptions } from './options.ts';
export { classifyHmpText, redactHmpLine, type HmpFailure } from './hmp.ts';
export { Policy, DESTRUCTIVE, DEFAULT_RULE, type Rule, type Decision } from './rules.ts';
export { redactArguments, compileRedactions, parsePath, DEFAULT_REDACTIONS, REDACTED, type RedactRule } from './redact.ts';
