// Type-level tests of the typed client. Checked by the root `npm run typecheck` and by types.test.ts
// (which compiles this file on its own): every `@ts-expect-error` must still be an error, every other
// line must compile. Nothing here runs.
import type { JsonPlain } from '@qmpmux/protocol';
import type { AddfdInfo, FdsetInfo, QmpEmptyObject, ShutdownCause, StatusInfo, VersionInfo, YankInstance } from '@qmpmux/qapi-types';
import { QmpClient, QmpError, QmpNotConnectedError, type QmpClientState, type QmpTypedEvent } from '../src/index.ts';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(): T | undefined {
  return undefined;
}

export async function commands(qmp: QmpClient): Promise<void> {
  // Returns are typed by name
  const status = await qmp.execute('query-status');
  expectType<Equal<typeof status, StatusInfo>>();
  expectType<Equal<typeof status.status, StatusInfo['status']>>();
  const version = await qmp.execute('query-version');
  expectType<Equal<typeof version, VersionInfo>>();
  const fd = await qmp.execute('add-fd', { 'fdset-id': 1 }, { fds: [3] });
  expectType<Equal<typeof fd, AddfdInfo>>();
  expectType<Equal<typeof fd.fd, number | bigint>>(); // 64-bit: lossless
  const fdsets = await qmp.execute('query-fdsets');
  expectType<Equal<typeof fdsets, FdsetInfo[]>>();
  const stopped = await qmp.execute('stop');
  expectType<Equal<typeof stopped, QmpEmptyObject>>();
  const hmp = await qmp.execute('human-monitor-command', { 'command-line': 'info status' });
  expectType<Equal<typeof hmp, string>>();

  // Arguments: optional when there are none or all are optional, required otherwise
  await qmp.execute('query-status');
  await qmp.execute('stop', {});
  await qmp.execute('add-fd');
  await qmp.execute('add-fd', { opaque: 'x' });
  await qmp.execute('add-fd', { 'fdset-id': 2n ** 60n });
  await qmp.execute('getfd', { fdname: 'f' }, { fds: [4] });
  await qmp.execute('human-monitor-command', { 'command-line': 'info status' });
  await qmp.execute('device_add', { driver: 'virtio-net-pci', id: 'nic0', netdev: 'n0' }); // gen: false takes any property
  // @ts-expect-error getfd requires its arguments
  await qmp.execute('getfd');
  // @ts-expect-error fdname is a string
  await qmp.execute('getfd', { fdname: 3 });
  // @ts-expect-error unknown member
  await qmp.execute('add-fd', { fdset: 1 });
  // @ts-expect-error query-status takes no arguments
  await qmp.execute('query-status', { verbose: true });
  // @ts-expect-error not a RunState-taking command: wrong enum value
  await qmp.execute('set-action', { shutdown: 'explode' });

  // Command names
  // @ts-expect-error no such command
  await qmp.execute('query-statuss');
  // @ts-expect-error no such command (case matters)
  await qmp.execute('Query-Status');

  // Out-of-band: only allow-oob commands
  await qmp.executeOob('migrate-pause');
  const yanks = await qmp.executeOob('query-yank');
  expectType<Equal<typeof yanks, YankInstance[]>>();
  await qmp.executeOob('yank', { instances: [{ type: 'migration' }] });
  await qmp.execute('migrate-pause', undefined, { oob: true });
  await qmp.execute('stop', undefined, { oob: false });
  // @ts-expect-error stop does not allow exec-oob
  await qmp.executeOob('stop');
  // @ts-expect-error query-status does not allow exec-oob
  await qmp.execute('query-status', undefined, { oob: true });
  // @ts-expect-error yank requires instances
  await qmp.executeOob('yank');

  // Untyped: names known only at run time, extension names, or an explicit return type
  const name: string = 'query-' + 'name';
  const any = await qmp.execute(name, { x: 1 }, { oob: true });
  expectType<Equal<typeof any, JsonPlain>>();
  const ext = await qmp.execute('__org.qmpmux_query-clients');
  expectType<Equal<typeof ext, JsonPlain>>();
  const list = await qmp.execute<{ name: string }[]>('query-commands');
  expectType<Equal<typeof list, { name: string }[]>>();

  // Errors
  try {
    await qmp.execute('stop');
  } catch (e) {
    if (QmpError.is(e, 'CommandNotFound')) expectType<Equal<typeof e.cls, 'CommandNotFound'>>();
    if (e instanceof QmpError) {
      expectType<Equal<typeof e.cls, 'GenericError' | 'CommandNotFound' | 'DeviceNotActive' | 'DeviceNotFound' | 'KVMMissingCap'>>();
      expectType<Equal<typeof e.desc, string>>();
    }
    if (e instanceof QmpNotConnectedError) expectType<Equal<typeof e.state, 'connecting' | 'reconnecting' | 'closed'>>();
  }
  // @ts-expect-error not an error class
  QmpError.is(undefined, 'NoSuchClass');
}

export function events(qmp: QmpClient, all: QmpTypedEvent): void {
  qmp.on('SHUTDOWN').subscribe((e) => {
    expectType<Equal<typeof e.event, 'SHUTDOWN'>>();
    expectType<Equal<typeof e.data.reason, ShutdownCause>>();
    expectType<Equal<typeof e.data.guest, boolean>>();
  });
  qmp.on('STOP').subscribe((e) => {
    expectType<Equal<typeof e.data, undefined>>();
  });
  qmp.on('RTC_CHANGE').subscribe((e) => expectType<Equal<typeof e.data.offset, number | bigint>>());
  qmp.events('STOP', 'RESUME', 'RTC_CHANGE').subscribe((e) => {
    expectType<Equal<typeof e.event, 'STOP' | 'RESUME' | 'RTC_CHANGE'>>();
    if (e.event === 'RTC_CHANGE') expectType<Equal<typeof e.data.offset, number | bigint>>();
  });
  if (all.event === 'DEVICE_DELETED') expectType<Equal<typeof all.data.path, string>>();
  // untyped: a name known at run time
  const name: string = 'X';
  qmp.on(name).subscribe((e) => expectType<Equal<typeof e.data, JsonPlain | undefined>>());
  // @ts-expect-error events() takes only known event names
  qmp.events('NO_SUCH_EVENT');
  qmp.on('SHUTDOWN').subscribe((e) => {
    // @ts-expect-error SHUTDOWN data has no offset
    void e.data.offset;
  });
  qmp.state$.subscribe((s) => expectType<Equal<typeof s, QmpClientState>>());
}

// Extension commands: declared by the caller, typed like QEMU's
interface ClientsEntry {
  id: number;
  transport: string;
  principal?: string;
}
interface Extensions {
  '__org.qmpmux_query-clients': { args: undefined; ret: ClientsEntry[] };
  '__org.example_ping': { args: { payload: string }; ret: { pong: string }; oob: true };
}
export async function extensions(): Promise<void> {
  const qmp = await QmpClient.connect<Extensions>('unix:/x');
  const clients = await qmp.execute('__org.qmpmux_query-clients');
  expectType<Equal<typeof clients, ClientsEntry[]>>();
  const pong = await qmp.executeOob('__org.example_ping', { payload: 'p' });
  expectType<Equal<typeof pong, { pong: string }>>();
  const status = await qmp.execute('query-status'); // QEMU's commands stay
  expectType<Equal<typeof status, StatusInfo>>();
  // @ts-expect-error payload is required
  await qmp.execute('__org.example_ping');
  // @ts-expect-error payload is a string
  await qmp.execute('__org.example_ping', { payload: 1 });
}
