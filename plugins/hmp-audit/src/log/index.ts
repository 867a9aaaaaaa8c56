/** The audit log library: writer, reading, verification, display, conversion. */
export { AuditWriter, type WriterOptions, type FsyncPolicy } from './writer.ts';
export { verifyFiles, verifyLogFiles, type VerifyReport } from './verify.ts';
export { show, compileFilter, formatRecord, parseTime, type ShowFilter, type ShowOptions } from './show.ts';
export { convertFile } from './convert.ts';
export { readLogFile, parseLogFile, orderFiles, type LogFile } from './read.ts';
export { decodeRecords, encodeRecord, encodeHashed, computeHash, detectFormat, type AuditRecord, type LogFormat, type Decoded } from './codec.ts';
export { Hasher, GENESIS, loadKey, type ChainAlg } from './chain.ts';
export { canonicalJson, recordValue } from './canonical.ts';
export { segmentName, listSegments } from './files.ts';
export { AuditWriteError, AuditLockError, AuditRecoveryError, AuditFormatError } from './errors.ts';
