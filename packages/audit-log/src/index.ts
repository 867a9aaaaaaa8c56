/** The audit log: a hash-chained, fsync'd, rotating record log (writer, reading, verification, display, conversion) and `qmpmux audit`. Used by the hmp-audit plugin and by the NATS shipper. */
export { AuditWriter, type WriterOptions, type FsyncPolicy } from './writer.ts';
export { verifyFiles, verifyLogFiles, type VerifyReport } from './verify.ts';
export { ChainVerifier, verifyChain, type ChainBreak, type ChainItem, type ChainReport, type StoredBytes } from './chain-verify.ts';
export { show, compileFilter, formatRecord, parseTime, type ShowFilter, type ShowOptions } from './show.ts';
export { convertFile } from './convert.ts';
export { readLogFile, readRecords, parseLogFile, orderFiles, type LogFile } from './read.ts';
export { checkShape, decodeRecords, encodeRecord, encodeHashed, computeHash, detectFormat, type AuditRecord, type LogFormat, type Decoded } from './codec.ts';
export { Hasher, GENESIS, loadKey, type ChainAlg } from './chain.ts';
export { canonicalJson, recordValue, recordString } from './canonical.ts';
export { segmentName, listSegments } from './files.ts';
export { AuditWriteError, AuditLockError, AuditRecoveryError, AuditFormatError } from './errors.ts';
export { auditCommand, describeBreak, AuditUsageError, AUDIT_USAGE, type AuditIo, type RemoteVerifier, type RemoteVerifyOptions, type RemoteVerifyResult } from './cli.ts';
export { parseHmp, normalizeHmpName, matchHmpName, HMP_ALIASES, type HmpCommand } from './hmp-names.ts';
