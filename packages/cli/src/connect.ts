/** Connecting a one-shot CLI command (events, clients) to qmpmux, with one-line errors. */
import { QmpClient, QmpError } from '@qmpmux/client';

/** Thrown for a failure that is not a usage error: main prints the line and exits 1. */
export class CliFailure extends Error {}

/** Connect (and negotiate, unless `negotiate` is false); a failure is one line naming `what` and why. */
export async function connectCli(address: string, what: string, negotiate = true): Promise<QmpClient> {
  const token = process.env.QMPMUX_TOKEN;
  try {
    return await QmpClient.connect(address, { negotiate, websocket: token ? { token } : undefined });
  } catch (e) {
    const why = e instanceof QmpError ? e.desc : (e as Error).message;
    throw new CliFailure(`${what}: cannot connect to ${address}: ${why}`);
  }
}
