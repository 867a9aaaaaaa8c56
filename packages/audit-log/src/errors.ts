/** The audit log's errors, each with a stable code. */

/** The log could not be written (disk full, permissions, I/O error); `cause` is the system error. */
export class AuditWriteError extends Error {
  readonly code = 'AUDIT_WRITE_FAILED';
  constructor(
    readonly file: string,
    override readonly cause: unknown,
  ) {
    const sys = cause as NodeJS.ErrnoException;
    super(`cannot write the audit log ${file}: ${sys?.code ? `${sys.code}: ` : ''}${sys?.message ?? String(cause)}`);
  }
  /** The system error code (ENOSPC, EACCES, EIO…) when there is one. */
  get sysCode(): string | undefined {
    return (this.cause as NodeJS.ErrnoException)?.code;
  }
}

/** Another live process holds the log. */
export class AuditLockError extends Error {
  readonly code = 'AUDIT_LOCKED';
}

/** An existing log cannot be continued (its last record is unreadable): move it aside or repair it. */
export class AuditRecoveryError extends Error {
  readonly code = 'AUDIT_UNRECOVERABLE';
}

/** A file that is not an audit log in a known format, or a key that does not fit. */
export class AuditFormatError extends Error {
  readonly code = 'AUDIT_BAD_FORMAT';
}
