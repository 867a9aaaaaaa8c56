/** A minimal QMP line client for the benchmarks: QEMU and qmpmux both end every message with \r\n. */
import net from 'node:net';

export class LineClient {
  private buf = '';
  private waiters: ((line: string) => void)[] = [];
  lines: string[] = [];
  onLine?: (line: string) => void;
  constructor(readonly sock: net.Socket) {
    sock.setNoDelay(true);
    sock.on('data', (d) => {
      this.buf += d.toString('latin1');
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        if (this.onLine) this.onLine(line);
        else {
          const w = this.waiters.shift();
          if (w) w(line);
          else this.lines.push(line);
        }
      }
    });
  }
  static async open(path: string, negotiate = true): Promise<LineClient> {
    const sock = net.connect(path);
    await new Promise((r, j) => sock.once('connect', r).once('error', j));
    const c = new LineClient(sock);
    await c.next(); // greeting
    if (negotiate) {
      c.send('{"execute":"qmp_capabilities"}');
      await c.next();
    }
    return c;
  }
  next(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((r) => this.waiters.push(r));
  }
  send(s: string): void {
    this.sock.write(s);
  }
  close(): void {
    this.sock.destroy();
  }
}

export function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
