/**
 * The fixture of the fleet-form serve tests (fleet-serve, fleet-threads): a directory, QEMUs named
 * vm1…vmN, a config file written from VM entries (with a control socket, an HTTP endpoint and the
 * clients plugin), and the serve process — all stopped and removed after the suite.
 */
import { after } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnQmpmux, startQemu, type QmpmuxProcess, type TestQemu } from '@qmpmux/e2e';

export interface FleetFixture {
  readonly dir: string;
  readonly file: string;
  /** The control socket's path. */
  readonly control: string;
  sock(name: string): string;
  readonly qemus: TestQemu[];
  /** The `unix:` address of QEMU vmN. */
  q(n: number): string;
  /** Start QEMUs vm1…vmN. */
  startQemus(n: number): Promise<void>;
  /** A vms[] entry: VM `name` in front of QEMU vmN, listening on sock(name). */
  entry(name: string, n: number, extra?: Record<string, unknown>): Record<string, unknown>;
  /** Write the config: `vms`, the control socket, an HTTP endpoint on a free port, the clients plugin, the `base` and `extra` fields over them. */
  write(vms: unknown[], extra?: Record<string, unknown>): void;
  /** `qmpmux serve --config FILE` (a short warm-up), once its log matches `ready`; killed after the suite. */
  serve(ready: RegExp): Promise<QmpmuxProcess>;
}

export function useFleetFixture(prefix: string, base: Record<string, unknown> = {}): FleetFixture {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const qemus: TestQemu[] = [];
  const served: QmpmuxProcess[] = [];
  const sock = (name: string) => join(dir, `${name}.sock`);
  const control = join(dir, 'control.sock');
  const file = join(dir, 'qmpmux.json');
  const q = (n: number) => qemus[n - 1]!.address;
  after(async () => {
    for (const p of served) await p.stop('SIGKILL');
    for (const qm of qemus) await qm.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    file,
    control,
    sock,
    qemus,
    q,
    async startQemus(n) {
      for (let i = qemus.length + 1; i <= n; i++) qemus.push(await startQemu({ name: `vm${i}` }));
    },
    entry: (name, n, extra = {}) => ({ name, upstream: q(n), listen: [`unix:${sock(name)}`], ...extra }),
    write(vms, extra = {}) {
      writeFileSync(file, JSON.stringify({ ...base, vms, control: `unix:${control}`, http: '127.0.0.1:0', log: 'info', plugins: [{ name: 'clients' }], ...extra }));
    },
    async serve(ready) {
      const p = await spawnQmpmux(['serve', '--config', file], { ready, env: { QMPMUX_WARMUP: '100' } });
      served.push(p);
      return p;
    },
  };
}
