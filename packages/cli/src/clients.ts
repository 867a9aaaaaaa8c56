/** `qmpmux clients ADDRESS`: who is connected, from the clients plugin's `__org.qmpmux_query-clients`. */
import { checkAddress, parseArgs, UsageError } from './args.ts';
import { CliFailure, connectCli } from './connect.ts';
import { QmpError } from '@qmpmux/client';

export const CLIENTS_USAGE = `usage: qmpmux clients [--json] ADDRESS
A table of the clients connected to qmpmux (the clients plugin must be enabled).
ADDRESS: unix:PATH, tcp:HOST:PORT, ws://HOST:PORT/PATH or wss://….
  --json   print the reply of __org.qmpmux_query-clients as JSON instead
Examples:
  qmpmux clients unix:/run/qmpmux/vm1.sock
  qmpmux clients --json tcp:127.0.0.1:4445 | jq '.[] | select(.principal == "dashboard")'`;

type Row = Record<string, string | number | boolean | undefined>;

export async function clients(argv: string[]): Promise<number> {
  const { opts, rest } = parseArgs(argv, { bools: ['json'] });
  const address = checkAddress(rest[0]);
  if (rest.length > 1) throw new UsageError(`unexpected argument '${rest[1]}'`);
  const qmp = await connectCli(address, 'qmpmux clients');
  let list: Row[];
  try {
    list = (await qmp.execute('__org.qmpmux_query-clients' as never)) as unknown as Row[];
  } catch (e) {
    throw new CliFailure(`qmpmux clients: ${e instanceof QmpError ? e.desc : (e as Error).message}${e instanceof QmpError && e.cls === 'CommandNotFound' ? ' (is the clients plugin enabled?)' : ''}`);
  } finally {
    qmp.close();
  }
  if (opts.json) {
    process.stdout.write(JSON.stringify(list, null, 2) + '\n');
    return 0;
  }
  process.stdout.write(formatClients(list) + '\n');
  return 0;
}

/** The table: one row per client, columns padded. */
export function formatClients(list: readonly Row[]): string {
  const head = ['ID', 'TRANSPORT', 'ADDRESS', 'PRINCIPAL', 'PID', 'UID', 'CONNECTED', 'CMDS', 'EVENTS', 'STATE'];
  const rows = list.map((c) => [
    String(c.id),
    String(c.transport),
    String(c.address || '-'),
    String(c.principal ?? '-'),
    c.pid === undefined ? '-' : String(c.pid),
    c.uid === undefined ? '-' : String(c.uid),
    typeof c['connected-at'] === 'number' ? new Date(c['connected-at'] * 1000).toISOString().replace('.000Z', 'Z') : '-',
    String(c.commands),
    String(c.events),
    c.negotiated ? (c.oob ? 'ready,oob' : 'ready') : 'greeting',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}
