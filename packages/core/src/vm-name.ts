/** The file mode of unix listener sockets unless the config's `unixMode` says otherwise. */
export const DEFAULT_UNIX_MODE = 0o600;
/** The name of a VM that was given none. */
export const DEFAULT_VM_NAME = 'default';
/** What a VM's name may be: it appears in NATS subjects, metric labels, socket paths and log lines. */
export const VM_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
