/** The `qmpmux` command: a table of subcommands, each with its usage text (`--help`). */
import { ConfigError } from '@qmpmux/core';
import { UsageError, wantsHelp } from './args.ts';
import { CliFailure } from './connect.ts';
import { serve, SERVE_USAGE } from './serve.ts';
import { shell, SHELL_USAGE } from './shell.ts';
import { events, EVENTS_USAGE } from './events.ts';
import { clients, CLIENTS_USAGE } from './clients.ts';
import { auditVerifyAtNats, fleet, FLEET_USAGE } from './fleet.ts';
import { auditCommand, AUDIT_USAGE } from '@qmpmux/audit-log';

export interface Subcommand {
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
  /** The subcommand answers --help itself (it has subcommands of its own). */
  ownHelp?: boolean;
}

/** Adding a subcommand is one line here. */
export const COMMANDS: Record<string, Subcommand> = {
  serve: { summary: 'run the proxy', usage: SERVE_USAGE, run: serve },
  shell: { summary: 'an interactive QMP shell (qmp-shell grammar)', usage: SHELL_USAGE, run: shell },
  events: { summary: "print QEMU's events as they arrive", usage: EVENTS_USAGE, run: events },
  clients: { summary: 'who is connected', usage: CLIENTS_USAGE, run: clients },
  audit: { summary: 'verify, show or convert audit logs', usage: AUDIT_USAGE, run: auditSub, ownHelp: true },
  fleet: { summary: 'the VMs, events and commands of every host, through NATS', usage: FLEET_USAGE, run: fleet, ownHelp: true },
};

async function auditSub(argv: string[]): Promise<number> {
  // `qmpmux audit verify --help`: the audit usage covers every audit subcommand.
  if (argv.length > 1 && wantsHelp(argv.slice(1))) return (process.stdout.write(AUDIT_USAGE + '\n'), 0);
  // `verify --nats`: read back through NATS, connected as the fleet commands are.
  return auditCommand(argv, { natsVerify: auditVerifyAtNats });
}

export function usage(): string {
  const w = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return `usage: qmpmux <command> [options]   (qmpmux <command> --help for each)\n${Object.entries(COMMANDS)
    .map(([k, c]) => `  ${k.padEnd(w)}  ${c.summary}`)
    .join('\n')}`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    if (name === 'help' && rest[0] && COMMANDS[rest[0]]) return (process.stdout.write(COMMANDS[rest[0]]!.usage + '\n'), 0);
    (name === undefined ? process.stderr : process.stdout).write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  const cmd = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!cmd) {
    process.stderr.write(`qmpmux: unknown command '${name}' (one of: ${Object.keys(COMMANDS).join(', ')}; qmpmux --help)\n`);
    return 2;
  }
  if (!cmd.ownHelp && wantsHelp(rest)) return (process.stdout.write(cmd.usage + '\n'), 0);
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError) {
      process.stderr.write(`qmpmux ${name}: ${e.message} (qmpmux ${name} --help)\n`);
      return 2;
    }
    if (e instanceof CliFailure) {
      process.stderr.write(`${e.message}\n`);
      return 1;
    }
    // Not a user error: one line still; the stack only when asked for.
    const err = e as Error;
    process.stderr.write(`qmpmux ${name}: ${process.env.QMPMUX_DEBUG ? (err.stack ?? err) : (err?.message ?? String(e))}\n`);
    return 1;
  }
}
