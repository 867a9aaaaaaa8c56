/**
 * The typed client (@qmpmux/client) against real QEMU, directly and through qmpmux over unix, TCP and
 * WebSocket: typed returns and events, typed errors, fds, exec-oob, and reconnecting when QEMU restarts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { pipe, closeFd } from '@qmpmux/unixfd';
import { firstValueFrom, take, toArray } from 'rxjs';
import { QmpClient, QmpError, QmpNotConnectedError, type QmpClientState } from '@qmpmux/client';
import { clientsPlugin } from '@qmpmux/plugin-clients';
import { useProxy, useQemu, useWssProxy } from '../src/index.ts';

async function until(pred: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Extension commands of qmpmux, declared for the typed client (plugins/clients answers this one). */
interface QmpmuxCommands {
  '__org.qmpmux_query-clients': { args: undefined; ret: { id: number; transport: string; address: string; negotiated: boolean; principal?: string }[] };
}

describe('typed client through qmpmux (unix, TCP, WebSocket) against real QEMU', () => {
  const { qemu, mux } = useProxy({ ws: true, plugins: [{ definition: clientsPlugin }] });

  for (const via of ['unix', 'tcp', 'ws'] as const) {
    it(`${via}: typed returns, typed events, typed errors`, async () => {
      const qmp = await QmpClient.connect(mux[via]);
      try {
        assert.equal(qmp.greeting.QMP.version.qemu.major, 7);
        const status = await qmp.execute('query-status');
        assert.equal(typeof status.running, 'boolean');
        const stop = firstValueFrom(qmp.on('STOP'));
        const resume = firstValueFrom(qmp.events('RESUME'));
        await qmp.execute('stop');
        assert.equal((await stop).event, 'STOP');
        assert.equal((await qmp.execute('query-status')).status, 'paused');
        await qmp.execute('cont');
        const r = await resume;
        assert.equal(r.event, 'RESUME');
        assert.ok(r.timestamp.seconds > 0);
        await assert.rejects(qmp.execute('device_del', { id: 'no-such-device' }), (e: unknown) => {
          assert.ok(e instanceof QmpError);
          assert.equal(e.cls, 'DeviceNotFound');
          assert.equal(e.desc, "Device 'no-such-device' not found");
          assert.equal(e.command, 'device_del');
          return true;
        });
        await assert.rejects(qmp.execute('__org.example_nope'), (e: unknown) => QmpError.is(e, 'CommandNotFound') && e.desc === 'The command __org.example_nope has not been found');
        const version = await qmp.execute('query-version');
        assert.equal(version.qemu.major, 7);
      } finally {
        qmp.close();
      }
    });
  }

  it('declared extension commands are typed too', async () => {
    const qmp = await QmpClient.connect<QmpmuxCommands>(mux.unix);
    try {
      const list = await qmp.execute('__org.qmpmux_query-clients');
      assert.ok(list.some((c) => c.transport === 'unix' && c.negotiated));
    } finally {
      qmp.close();
    }
  });

  it('unix passes fds (add-fd returns AddfdInfo); WebSocket cannot, and says so through QEMU', async () => {
    const qmp = await QmpClient.connect(mux.unix);
    const ws = await QmpClient.connect(mux.ws);
    try {
      const [r, w] = pipe();
      closeFd(r);
      const info = await qmp.execute('add-fd', { 'fdset-id': 41, opaque: 'typed' }, { fds: [w] });
      assert.equal(info['fdset-id'], 41);
      assert.equal(typeof info.fd, 'number');
      const sets = await qmp.execute('query-fdsets');
      assert.deepEqual(
        sets.find((s) => s['fdset-id'] === 41)?.fds.map((f) => f.opaque),
        ['typed'],
      );
      await qmp.execute('remove-fd', { 'fdset-id': 41 });
      const [r2, w2] = pipe();
      closeFd(r2);
      await assert.rejects(ws.execute('add-fd', { 'fdset-id': 42 }, { fds: [w2] }), (e: unknown) => e instanceof QmpError && e.desc === 'No file descriptor supplied via SCM_RIGHTS');
    } finally {
      qmp.close();
      ws.close();
    }
  });

  it('exec-oob with OOB negotiated: executeOob(query-yank) overtakes nothing and returns YankInstance[]', async () => {
    const qmp = await QmpClient.connect(mux.unix, { oob: true });
    try {
      assert.equal(qmp.oob, true);
      const yanks = await qmp.executeOob('query-yank');
      assert.ok(Array.isArray(yanks));
      await assert.rejects(qmp.execute('query-status', undefined, { oob: true } as never), (e: unknown) => e instanceof QmpError && /does not support OOB/.test(e.desc));
    } finally {
      qmp.close();
    }
  });

  it('reconnects when QEMU restarts behind qmpmux: fail-fast while down, events and state$ go on', async () => {
    const qmp = await QmpClient.connect(mux.unix, { reconnect: { initialDelayMs: 50, maxDelayMs: 500 } });
    try {
      const states: QmpClientState[] = [];
      let failFast: Promise<unknown> | undefined;
      qmp.state$.subscribe((s) => {
        states.push(s);
        // issued the moment the drop is known: fails at once, sent nowhere
        if (s === 'reconnecting') failFast ??= qmp.execute('query-status').then(() => 'sent', (e: unknown) => e);
      });
      const events = firstValueFrom(qmp.events('STOP', 'RESUME').pipe(take(2), toArray()));
      await qmp.execute('stop');
      await qemu.restart();
      await until(() => states.includes('reconnecting') && qmp.state === 'connected', 'reconnected');
      const e = await failFast;
      assert.ok(e instanceof QmpNotConnectedError && e.state === 'reconnecting', String(e));
      // A new QEMU, running again; its events come through the same subscription.
      await qmp.execute('stop');
      assert.deepEqual((await events).map((ev) => ev.event), ['STOP', 'STOP']);
      assert.equal((await qmp.execute('query-status')).status, 'paused');
      await qmp.execute('cont');
      assert.equal(states[0], 'connected');
      assert.equal(states.at(-1), 'connected');
    } finally {
      qmp.close();
    }
  });
});

describe('typed client directly on QEMU', () => {
  const qemu = useQemu();

  it('reconnects to a restarted QEMU and negotiates OOB again', async () => {
    const qmp = await QmpClient.connect(qemu.address, { oob: true, reconnect: { initialDelayMs: 20 } });
    try {
      const states: QmpClientState[] = [];
      qmp.state$.subscribe((s) => states.push(s));
      await qmp.execute('query-status');
      await qemu.restart();
      await until(() => states.includes('reconnecting') && qmp.state === 'connected', 'reconnected');
      assert.equal(qmp.oob, true);
      assert.ok(Array.isArray(await qmp.executeOob('query-yank')));
      assert.equal((await qmp.execute('query-status')).running, true);
    } finally {
      qmp.close();
    }
  });
});

describe('typed client over wss:// with a bearer token', () => {
  const wss = useWssProxy('qmpmux-client-wss-');

  it('connects with the CA and a token, runs typed commands; an untrusted server certificate is refused', async () => {
    const qmp = await QmpClient.connect(wss.mux.ws, { websocket: { token: 's3cret-token', options: { ca: readFileSync(wss.ca.cert) } } });
    try {
      assert.equal((await qmp.execute('query-version')).qemu.major, 7);
      assert.equal(wss.peers.at(-1)?.transport, 'wss');
      assert.equal(wss.peers.at(-1)?.token, 's3cret-token');
    } finally {
      qmp.close();
    }
    await assert.rejects(QmpClient.connect(wss.mux.ws), /self[- ]signed|unable to (get|verify)/i);
  });
});
