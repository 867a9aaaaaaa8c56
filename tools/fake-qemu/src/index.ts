/**
 * A scripted fake QMP server over TCP, for what real QEMU cannot be made to do on demand: stale replies
 * after a reconnect, a link dropped mid-reply, floods, a pretty-printing monitor.
 */
import net from 'node:net';

export const GREETING = '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "fake"}, "capabilities": ["oob"]}}';

export interface FakeConn {
  sock: net.Socket;
  /** Messages received (as text; commands are compact objects here). */
  received: any[];
  send(text: string): void;
}

export class FakeQemu {
  readonly conns: FakeConn[] = [];
  private server!: net.Server;
  port = 0;
  /** Called for every command after negotiation; default: answer {"return": {}}. */
  onCommand: (c: FakeConn, msg: any) => void = (c, msg) => c.send(`{"return": {}, "id": ${JSON.stringify(msg.id)}}`);
  /** Extra bytes sent right after the greeting (e.g. a stale reply). */
  afterGreeting = '';
  pretty = false;

  async start(): Promise<void> {
    this.server = net.createServer((sock) => {
      const c: FakeConn = {
        sock,
        received: [],
        send: (t) => {
          if (!sock.destroyed) sock.write(this.pretty ? prettify(t) : t + '\r\n');
        },
      };
      this.conns.push(c);
      c.send(GREETING);
      if (this.afterGreeting) sock.write(this.afterGreeting);
      let buf = '';
      sock.on('data', (d) => {
        buf += d.toString('latin1');
        // The proxy always sends one compact object per command; split on the closing brace depth.
        let depth = 0;
        let start = 0;
        let inStr = false;
        for (let i = 0; i < buf.length; i++) {
          const ch = buf[i];
          if (inStr) {
            if (ch === '\\') i++;
            else if (ch === '"') inStr = false;
          } else if (ch === '"') inStr = true;
          else if (ch === '{') depth++;
          else if (ch === '}' && --depth === 0) {
            const msg = JSON.parse(buf.slice(start, i + 1));
            start = i + 1;
            c.received.push(msg);
            if (msg.execute === 'qmp_capabilities') c.send(`{"return": {}, "id": ${JSON.stringify(msg.id)}}`);
            else if (msg.execute === 'query-version') c.send(`{"return": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "fake"}, "id": ${JSON.stringify(msg.id)}}`);
            else this.onCommand(c, msg);
          }
        }
        buf = buf.slice(start);
      });
      sock.on('error', () => {});
    });
    await new Promise<void>((r) => this.server.listen(this.port, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  get address(): string {
    return `tcp:127.0.0.1:${this.port}`;
  }

  /** Drop every connection (as if QEMU died). */
  dropAll(): void {
    for (const c of this.conns) c.sock.destroy();
  }

  async stop(): Promise<void> {
    this.dropAll();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** QEMU's pretty=on layout: 4-space indent, CRLF line ends. */
function prettify(compact: string): string {
  const v = JSON.parse(compact);
  return JSON.stringify(v, null, 4).replace(/\n/g, '\r\n').replace(/":/g, '": ') + '\r\n';
}
