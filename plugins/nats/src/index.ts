/**
 * qmpmux on NATS JetStream (issue 13): events, audit records, commands and the VM inventory of a fleet.
 * See docs/nats.md.
 */
export { startAuditShipper, AUDIT_SHIPPER_DEFAULTS, type AuditShipper, type AuditShipperOptions } from './audit-shipper.ts';
export { auditSubject, ensureAuditStream, lastAuditRecord, DEFAULT_AUDIT_STREAM, DEFAULT_AUDIT_DUPLICATE_WINDOW_MS, AUDIT_SEQ_HEADER } from './audit-stream.ts';
export { verifyAuditStream, verifyAuditAtNats, type StreamVerifyOptions } from './audit-verify.ts';
