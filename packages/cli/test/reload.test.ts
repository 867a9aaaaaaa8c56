/** `qmpmux serve` reloading its configuration on SIGHUP, with a client connected throughout. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient, QmpError } from '@qmpmux/client';
import { reloadServe, spawnQmpmux, startQemu, type QmpmuxProcess, type TestQemu } from '@qmpmux/e2e';

describe('SIGHUP reload', () => {
  let dir: string;
  let qemu: TestQemu;
  let serve: QmpmuxProcess;
  let file: string;
  let sock: string;

  const config = (policy: unknown, extra: Record<string, unknown> = {}) =>
    writeFileSync(file, JSON.stringify({ upstream: qemu.address, listen: [`unix:${sock}`], log: 'info', plugins: [{ name: 'policy', options: policy }], ...extra }));
  const rootIs = (name: string, profile: string, more: Record<string, unknown> = {}) => ({ principals: [{ name, match: [{ uid: 0 }], profile, ...more }] });

  /** Send SIGHUP and wait for the log line that reports the outcome. */
  const hup = () => reloadServe(serve);
  const refused = (command: string, principal: string) => (e: unknown) => e instanceof QmpError && e.desc === `qmpmux: command '${command}' is not permitted for principal '${principal}'`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qmpmux-reload-'));
    file = join(dir, 'qmpmux.json');
    sock = join(dir, 'mux.sock');
    qemu = await startQemu();
    config(rootIs('root', 'read-only'));
    serve = await spawnQmpmux(['serve', '--config', file], { ready: /\[qmpmux\] upstream / });
  });
  after(async () => {
    await serve?.stop('SIGTERM');
    await qemu?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies a new policy to a connected client, and keeps the old one when the new file is invalid', async () => {
    const qmp = await QmpClient.connect(`unix:${sock}`);
    assert.deepEqual(await qmp.execute('__org.qmpmux_query-principal'), { principal: 'root' });
    await assert.rejects(qmp.execute('stop'), refused('stop', 'root'));

    config(rootIs('operator', 'vm-control'));
    assert.match(await hup(), /SIGHUP: configuration reloaded from /);
    assert.deepEqual(await qmp.execute('__org.qmpmux_query-principal'), { principal: 'operator' }, 'the same connection, mapped again');
    assert.deepEqual(await qmp.execute('stop'), {});
    assert.deepEqual(await qmp.execute('cont'), {});

    config(rootIs('operator', 'admin'));
    assert.match(await hup(), /qmpmux error \[qmpmux\] SIGHUP: configuration not reloaded, the previous one stays: plugins\[0\]\.options\.principals\[0\]\.profile: expected one of: read-only, vm-control, full/);
    assert.deepEqual(await qmp.execute('stop'), {}, 'the previous policy still applies');
    assert.deepEqual(await qmp.execute('cont'), {});

    writeFileSync(file, '{"plugins": [');
    assert.match(await hup(), /SIGHUP: configuration not reloaded, the previous one stays: .*not valid JSON/);

    config(rootIs('operator', 'read-only'), { plugins: [{ name: 'policy', options: rootIs('x', 'full') }, { name: 'clients' }] });
    assert.match(await hup(), /SIGHUP: configuration not reloaded, the previous one stays: plugins: the list of plugins changed \(running: policy; new: policy, clients\); restart qmpmux/);
    await assert.rejects(qmp.execute('quit'), refused('quit', 'operator'));

    config(rootIs('viewer', 'read-only', { deny: ['query-status'] }));
    assert.match(await hup(), /configuration reloaded/);
    await assert.rejects(qmp.execute('stop'), refused('stop', 'viewer'));
    await assert.rejects(qmp.execute('query-status'), refused('query-status', 'viewer'));
    assert.equal(qmp.closed, false, 'the client stayed connected through five reloads');
    qmp.close();
  });

  it('a client connecting after a reload gets the new principal', async () => {
    config(rootIs('late', 'full'));
    assert.match(await hup(), /configuration reloaded/);
    const qmp = await QmpClient.connect(`unix:${sock}`);
    assert.deepEqual(await qmp.execute('__org.qmpmux_query-principal'), { principal: 'late' });
    qmp.close();
  });

  it('changes that need a restart are named', async () => {
    config(rootIs('late', 'full'), { limits: { maxClients: 3 } });
    const from = serve.log().length;
    assert.match(await hup(), /configuration reloaded/);
    assert.match(serve.log().slice(from), /SIGHUP: changes to limits take effect only after a restart/);
  });
});
