export { startQemu, QEMU_BINARY, type TestQemu } from './qemu.ts';
export { startProxy, waitReady, type TestProxy } from './proxy.ts';
export { RawClient } from './raw.ts';
export { openFdCount } from './fds.ts';
