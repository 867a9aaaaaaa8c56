export { startQemu, QEMU_BINARY, type TestQemu } from './qemu.ts';
export { startProxy, waitReady, type TestProxy, type StartProxyOptions } from './proxy.ts';
export { RawClient } from './raw.ts';
export { openFdCount, fdPassingCycles } from './fds.ts';
export { makeTestCa, type TestCa } from './certs.ts';
export { WsClient, WsHandshakeError } from './ws-client.ts';
export { useWssProxy, type WssFixture } from './wss.ts';
export { startNats, freePort, NATS_SERVER_BINARY, type TestNats } from './nats.ts';
export { waitFor } from './wait.ts';
