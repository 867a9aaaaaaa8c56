/** Loader and typings for the C addon (native/unixfd.c). Internal: import from './index.ts' instead. */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A libuv poll watcher that owns one fd (see native/unixfd.c for the rules). */
export interface NativeHandle {
  /** Arm READABLE (1) / WRITABLE (2); 0 stops the poll. Returns 0 or a negative errno. */
  setEvents(mask: number): number;
  /** Idempotent. The fd is closed once libuv released it; EV_CLOSED follows asynchronously. */
  close(): void;
}

export type HandleCallback = (kind: number, a?: unknown, b?: unknown) => void;

export interface NativeAddon {
  Handle: new (fd: number, listening: boolean, cb: HandleCallback) => NativeHandle;
  connect(path: string): number;
  listen(path: string, backlog: number, mode: number): number;
  send(fd: number, buffers: Uint8Array[], offset: number, fds: number[] | null): number;
  peercred(fd: number): [number, number, number] | number;
  shutdown(fd: number): number;
  close(fd: number): void;
  fdType(fd: number): string;
  pipe(): [number, number] | number;
  socketpair(): [number, number] | number;
  /** Test hook: capacity (in fds) of the receive control buffer, 0..253. Returns the new value. */
  setRecvFdCapacity(n: number): number;
  readonly MAX_FDS: number;
  readonly EV_DATA: number;
  readonly EV_WRITABLE: number;
  readonly EV_EOF: number;
  readonly EV_ERROR: number;
  readonly EV_CONN: number;
  readonly EV_CLOSED: number;
  readonly READABLE: number;
  readonly WRITABLE: number;
}

const addonPath = fileURLToPath(new URL('../build/Release/unixfd.node', import.meta.url));
let cached: NativeAddon | undefined;

/** Loads the addon on first use, with a clear message when it was never built. */
export function native(): NativeAddon {
  if (cached) return cached;
  if (!existsSync(addonPath)) {
    throw new Error(`@qmpmux/unixfd: native addon not built (${addonPath} is missing): run npm run build:native`);
  }
  cached = createRequire(import.meta.url)('../build/Release/unixfd.node') as NativeAddon;
  return cached;
}
