/**
 * A QMP monitor with no QEMU behind it, answered by qmpmux itself (a fleet's control socket).
 *
 * Each client gets the same Session a VM's clients get — QEMU's framing and parse errors, envelope
 * checks, negotiation with QEMU's texts, one command at a time, input and output bounds — with one
 * internal plugin answering every command: the given own commands (arguments checked by the core with
 * QEMU's texts), plus `qmp_capabilities`, `query-commands`, `query-qmp-schema` and `query-version`,
 * which describe exactly this monitor. Any other name gets QEMU's CommandNotFound text. The session's
 * upstream link is never started: nothing is ever forwarded.
 *
 * The greeting is QEMU's shape with qmpmux's version in it and no capabilities (no OOB):
 *   {"QMP": {"version": {"qemu": {"micro": 0, "minor": 1, "major": 0}, "package": "qmpmux"}, "capabilities": []}}
 */
import { OutputBudget } from './output-budget.ts';
import { serializeQemu, type JsonPlain } from '@qmpmux/protocol';
import { listen, type Conn, type Listener } from '@qmpmux/transports';
import { errorLine, refuse } from './errors.ts';
import { extendQmpSchema } from './introspection.ts';
import { DEFAULT_LIMITS, type Limits } from './limits.ts';
import type { Logger } from './log.ts';
import { NO_OBSERVER } from './observe.ts';
import { answer, ownCommand, type OwnCommand } from './own-command.ts';
import { PluginHost } from './plugin-host.ts';
import { Session } from './session.ts';
import type { Plugin } from './types.ts';
import { UpstreamLink } from './upstream.ts';
import { DEFAULT_UNIX_MODE } from './vm-name.ts';

/** What `query-version` returns (QEMU's VersionInfo shape). */
export interface MonitorVersion {
  qemu: { major: number; minor: number; micro: number };
  package: string;
}

export interface LocalMonitorOptions {
  /** The commands it answers besides the four built in (declare them with ownCommand()). */
  commands: readonly OwnCommand[];
  /** In the greeting and the return of `query-version`. */
  version: MonitorVersion;
  /** Clients at once; another connection gets `qmpmux: too many clients (maxClients=N)` and is closed. */
  maxClients: number;
  /** The session bounds (maxMessageBytes, maxClientInputBytes, maxClientOutputBytes); defaults otherwise. */
  limits?: Partial<Limits>;
  /** File mode of unix listener sockets; default 0600. */
  unixMode?: number;
  /** The process-wide output budget its clients count against (default: its own, from `limits`). */
  outputBudget?: OutputBudget;
  log: Logger;
}

export class LocalMonitor {
  private readonly sessions = new Map<number, Session>();
  private readonly listeners: Listener[] = [];
  private readonly limits: Limits;
  private readonly link: UpstreamLink;
  private readonly host: PluginHost;
  private readonly greeting: Buffer;
  private readonly budget: OutputBudget;
  private nextId = 0;
  private stopping = false;

  constructor(private readonly opts: LocalMonitorOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits, maxClients: opts.maxClients };
    this.budget = opts.outputBudget ?? new OutputBudget(this.limits.maxTotalClientOutputBytes);
    // Never started: every command is answered by the plugin below, so nothing reaches it.
    this.link = new UpstreamLink({ address: 'unix:(none)', limits: this.limits, log: opts.log });
    this.host = new PluginHost([monitorPlugin(opts.commands, opts.version)], opts.log.child('commands'));
    this.greeting = Buffer.from(serializeQemu({ QMP: { version: opts.version as unknown as JsonPlain, capabilities: [] } }) + '\r\n', 'latin1');
  }

  /** Where clients connect, as bound. */
  get addresses(): readonly string[] {
    return this.listeners.map((l) => l.bound);
  }
  get clientCount(): number {
    return this.sessions.size;
  }

  /** Open the listeners (unix sockets are created with `unixMode`, before listen()). */
  async start(addresses: readonly string[]): Promise<void> {
    for (const addr of addresses) {
      this.listeners.push(await listen(addr, (c) => this.accept(c), { unixMode: this.opts.unixMode ?? DEFAULT_UNIX_MODE }));
      this.opts.log.info(`listening on ${addr}`);
    }
  }

  /** Serve one connection (bounded by maxClients). */
  accept(conn: Conn): void {
    if (this.stopping) return conn.destroy();
    if (this.sessions.size >= this.limits.maxClients) {
      this.opts.log.warn('too many clients: connection refused', { peer: conn.peer.address, maxClients: this.limits.maxClients });
      conn.write(Buffer.from(errorLine('TOO_MANY_CLIENTS', undefined, this.limits.maxClients) + '\r\n'));
      return conn.end();
    }
    const s = new Session(++this.nextId, conn, {
      link: this.link,
      plugins: this.host,
      limits: this.limits,
      log: this.opts.log,
      observer: NO_OBSERVER,
      budget: this.budget,
      onClosed: (x) => this.sessions.delete(x.id),
    });
    this.sessions.set(s.id, s);
    s.start();
    s.greet(this.greeting);
  }

  /** Close the listeners (unlinking unix sockets) and every client. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.listeners.map((l) => l.close()));
    for (const s of [...this.sessions.values()]) s.close('qmpmux is shutting down', true);
  }
}

/** The one plugin of a local monitor: the built-in commands, the given ones, CommandNotFound for the rest. */
function monitorPlugin(commands: readonly OwnCommand[], version: MonitorVersion): Plugin {
  let schema: JsonPlain[] | undefined;
  const builtin: OwnCommand[] = [
    ownCommand({
      name: 'qmp_capabilities',
      data: { '*enable': ['str'] },
      // Negotiation itself is the session's; here it is already complete (QEMU's answer then).
      run: async () => refuse('CAPABILITIES_DONE'),
    }),
    ownCommand({ name: 'query-commands', returns: [{ name: 'str' }], run: async () => answer(all.map((c) => ({ name: c.name }))) }),
    ownCommand({ name: 'query-qmp-schema', returns: ['any'], run: async () => answer((schema ??= extendQmpSchema([], all) ?? [])) }),
    ownCommand({
      name: 'query-version',
      returns: { qemu: { major: 'int', minor: 'int', micro: 'int' }, package: 'str' },
      run: async () => answer(version as unknown as JsonPlain),
    }),
  ];
  const all = [...builtin, ...commands];
  const names = new Set(all.map((c) => c.name));
  return {
    name: 'monitor',
    commands: all,
    async onCommand(cmd) {
      if (!names.has(cmd.command)) return refuse('COMMAND_NOT_FOUND', cmd.command);
    },
  };
}
