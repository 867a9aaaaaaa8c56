/** The `qmpmux` command. */
import { ConfigError } from '@qmpmux/core';
import { UsageError } from './args.ts';
import { serve, SERVE_USAGE } from './serve.ts';
import { shell } from './shell.ts';
import { auditCommand } from '@qmpmux/plugin-hmp-audit';

const USAGE = `usage: qmpmux <command> [options]
  serve   run the proxy (see qmpmux serve --help)
  shell   an interactive QMP shell: qmpmux shell unix:PATH|tcp:HOST:PORT
  audit   verify, show or convert audit logs (qmpmux audit --help)`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'serve':
        if (rest.includes('--help')) return (process.stdout.write(SERVE_USAGE + '\n'), 0);
        return await serve(rest);
      case 'shell':
        return await shell(rest);
      case 'audit':
        return await auditCommand(rest);
      case undefined:
      case '--help':
      case 'help':
        process.stdout.write(USAGE + '\n');
        return cmd === undefined ? 2 : 0;
      default:
        process.stderr.write(`qmpmux: unknown command '${cmd}'\n${USAGE}\n`);
        return 2;
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError) {
      process.stderr.write(`qmpmux: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`qmpmux: ${(e as Error).stack ?? e}\n`);
    return 1;
  }
}
