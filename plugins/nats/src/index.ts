/**
 * qmpmux on NATS JetStream (issue 13): events, audit records, commands and the VM inventory of a fleet.
 * See docs/nats.md.
 */
export {};
