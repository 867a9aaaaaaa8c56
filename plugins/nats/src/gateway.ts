/**
 * The command gateway: NATS request/reply on `<p>.<vm>.qmp`. A request is one QMP command as JSON
 * bytes; the reply is the bytes a QMP client would read (QEMU's reply, the id echoed as QEMU echoes
 * it, line end included).
 *
 * Each request runs on a virtual client of this VM (ProxyApi.openVirtualClient) of principal
 * `gatewayPrincipal`: a real session through every plugin, so the policy plugin decides what it may
 * run and hmp-audit records it like any client's command. No principal configured: every request is
 * refused (GATEWAY_NO_PRINCIPAL).
 *
 * Bounded: at most `maxGatewayConcurrency` requests run at once, each on its own virtual client (kept
 * for the next request); at most `maxGatewayQueue` wait for a slot, in arrival order; beyond that a
 * request is refused at once (GATEWAY_BUSY). The subscription is in a queue group, so should two
 * processes serve the same VM name by mistake, each request still runs once.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { errorLine, inspectRequest, type Logger, type ProxyApi, type VirtualClient } from '@qmpmux/core';

export const QUEUE_GROUP = 'qmpmux';

export interface GatewayLimits {
  principal: string | undefined;
  maxConcurrent: number;
  maxQueued: number;
}

export interface GatewayDeps {
  proxy: ProxyApi;
  subject: string;
  log: Logger;
}

/** The reply refusing a request (with its id when it has one). */
function noPrincipal(data: Buffer): Buffer {
  return Buffer.from(errorLine('GATEWAY_NO_PRINCIPAL', idOf(data)) + '\r\n', 'latin1');
}
function busy(data: Buffer, limit: number): Buffer {
  return Buffer.from(errorLine('GATEWAY_BUSY', idOf(data), limit) + '\r\n', 'latin1');
}
function idOf(data: Buffer): string | undefined {
  const chk = inspectRequest(data, Number.MAX_SAFE_INTEGER);
  return chk.ok ? chk.idText : undefined;
}

export class Gateway {
  private sub: Subscription | undefined;
  private readonly idle: { client: VirtualClient; principal: string }[] = [];
  private readonly waiting: (() => void)[] = [];
  private running = 0;
  /** Requests answered, and refused for want of a slot. */
  served = 0;
  busy = 0;

  constructor(
    private readonly d: GatewayDeps,
    private limits: GatewayLimits,
  ) {}

  /** Serve requests on this connection (the client library keeps the subscription across reconnects). */
  attach(nc: NatsConnection): void {
    this.sub?.unsubscribe();
    this.sub = nc.subscribe(this.d.subject, { queue: QUEUE_GROUP, callback: (err, msg) => (err ? this.d.log.warn(`gateway subscription: ${err.message}`) : this.onRequest(msg)) });
  }

  /** New limits or principal (SIGHUP): idle clients of the old principal go. */
  reconfigure(next: GatewayLimits): void {
    const principalChanged = next.principal !== this.limits.principal;
    this.limits = next;
    if (principalChanged) for (const c of this.idle.splice(0)) c.client.close();
    while (this.running < this.limits.maxConcurrent && this.waiting.length) {
      this.running++;
      this.waiting.shift()!();
    }
  }

  private onRequest(msg: Msg): void {
    if (!msg.reply) return; // a publish, not a request: nobody to answer
    const data = Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength);
    if (this.limits.principal === undefined) return void msg.respond(noPrincipal(data));
    if (this.running >= this.limits.maxConcurrent) {
      if (this.waiting.length >= this.limits.maxQueued) {
        this.busy++;
        return void msg.respond(busy(data, this.limits.maxQueued));
      }
      this.waiting.push(() => void this.run(msg, data));
      return;
    }
    this.running++;
    void this.run(msg, data);
  }

  private async run(msg: Msg, data: Buffer): Promise<void> {
    if (this.limits.principal === undefined) {
      msg.respond(noPrincipal(data)); // removed by a reload while this waited
      return this.done();
    }
    const principal = this.limits.principal;
    const client = this.acquire(principal);
    try {
      const reply = await client.request(data);
      msg.respond(reply);
      this.served++;
    } catch (e) {
      this.d.log.warn(`gateway request failed: ${(e as Error).message}`);
    } finally {
      if (client.state !== 'closed' && this.idle.length < this.limits.maxConcurrent && this.sub && principal === this.limits.principal) this.idle.push({ client, principal });
      else client.close();
      this.done();
    }
  }

  /** A slot is free: the next waiting request takes it. */
  private done(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }

  private acquire(principal: string): VirtualClient {
    while (this.idle.length) {
      const c = this.idle.pop()!;
      if (c.client.state !== 'closed' && c.principal === principal) return c.client;
      c.client.close();
    }
    return this.d.proxy.openVirtualClient({ principal, via: 'nats', address: `nats:${this.d.subject}` });
  }

  /** Stop serving: unsubscribe, close the virtual clients (running requests are answered as closed). */
  close(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
    this.waiting.length = 0;
    for (const c of this.idle.splice(0)) c.client.close();
  }
}
