/** Shared test helpers (not a test file itself). */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnixServer, UnixSocket } from '../src/index.ts';

export function tmpDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'unixfd-test-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Pair {
  client: UnixSocket;
  server: UnixSocket; // the accepted side
  srv: UnixServer;
  path: string;
  close(): Promise<void>;
}

let counter = 0;

/** A listening server plus one connected pair; both sockets PAUSED. */
export async function makePair(dir: string): Promise<Pair> {
  const path = join(dir, `s${counter++}.sock`);
  const srv = await UnixServer.listen(path);
  const accepted = once(srv, 'connection') as Promise<[UnixSocket]>;
  const client = await UnixSocket.connect(path);
  const [server] = await accepted;
  return {
    client,
    server,
    srv,
    path,
    async close() {
      const waits: Promise<unknown>[] = [];
      for (const s of [client, server]) {
        if (!s.closed) {
          waits.push(once(s, 'close'));
          s.destroy();
        }
      }
      await Promise.all(waits);
      await srv.close();
    },
  };
}

/** Collects 'data' until at least n bytes arrived (fds are gathered too). Resumes the socket. */
export function readBytes(sock: UnixSocket, n: number): Promise<{ data: Buffer; fds: number[][] }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const fds: number[][] = [];
    let got = 0;
    const onData = (chunk: Buffer, f: number[]) => {
      chunks.push(chunk);
      fds.push(f);
      got += chunk.length;
      if (got >= n) {
        sock.off('data', onData);
        sock.off('close', onClose);
        sock.pause();
        resolve({ data: Buffer.concat(chunks), fds });
      }
    };
    const onClose = (err?: Error) => reject(err ?? new Error(`closed after ${got} of ${n} bytes`));
    sock.on('data', onData);
    sock.on('close', onClose);
    sock.resume();
  });
}

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
