/**
 * qmpmux on NATS JetStream (issue 13): events, audit records, commands and the VM inventory of a fleet.
 * See docs/nats.md.
 */
export { natsPlugin, natsPlugin as default, CLOSE_GRACE_MS } from './plugin.ts';
export { validateOptions, readCredsFile, checkTlsFiles, DEFAULTS, type NatsOptions, type TlsFiles } from './options.ts';
export { connectionOptions, connectFailure, type NatsState } from './connection.ts';
export { eventSubjects } from './events.ts';
export { qemuVersion, type InventoryEntry } from './inventory.ts';
export { QUEUE_GROUP } from './gateway.ts';
export { Fleet, KEYS_STALL_MS, vmGlob, type FleetOptions, type FleetMessage, type EventQuery } from './fleet-client.ts';
export { startAuditShipper, AUDIT_SHIPPER_DEFAULTS, type AuditShipper, type AuditShipperOptions } from './audit-shipper.ts';
export { startAuditShipperThread, type ThreadShipperOptions, type ConnectionSettings } from './audit-thread.ts';
export { auditMsgId, auditSubject, ensureAuditStream, lastAuditRecord, DEFAULT_AUDIT_STREAM, DEFAULT_AUDIT_DUPLICATE_WINDOW_MS, AUDIT_SEQ_HEADER } from './audit-stream.ts';
export { verifyAuditStream, type StreamVerifyOptions } from './audit-verify.ts';
