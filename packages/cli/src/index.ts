export { main } from './main.ts';
export { parseShellLine } from './shell.ts';
export { AVAILABLE_PLUGINS } from './serve.ts';
export { ManagedQemu } from './qemu.ts';
