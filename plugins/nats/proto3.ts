import { makeTestCa, startNats } from '@qmpmux/e2e';
import { connect } from '@nats-io/transport-node';
const ca = makeTestCa('/tmp/natsproto/ca3');
const nats = await startNats({ tls: { ca, verify: true } });
for (const extra of [{ reconnect: false }, { reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 500 }, {reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 500, pingInterval: 10000, maxPingOut: 3}]) {
  const t0 = Date.now();
  try {
    const nc = await connect({ servers: nats.url, tls: { caFile: ca.cert }, timeout: 5000, ...extra });
    console.log('ok');
    await nc.close();
  } catch (e) { console.log(JSON.stringify(extra), Date.now() - t0, 'ERR', (e as any).code, (e as Error).message); }
}
await nats.stop();
