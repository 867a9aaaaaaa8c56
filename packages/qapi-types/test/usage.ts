// Type-level tests of the generated QMP types. Checked by the root `npm run typecheck` and by
// types.test.ts (which compiles this file on its own): every `@ts-expect-error` must still
// be an error, every other line must compile.
import type {
  AddfdInfo,
  BlockdevOptions,
  FdsetInfo,
  QmpCommandArgs,
  QmpCommandName,
  QmpCommandReturn,
  QmpEventData,
  QmpEventName,
  QmpEvents,
  QmpJsonValue,
  QmpOobCommandName,
  RunState,
  StatusInfo,
} from '../src/index.ts';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(): T | undefined {
  return undefined;
}

// Command map: arguments and returns
expectType<Equal<QmpCommandArgs<'query-status'>, undefined>>();
expectType<Equal<QmpCommandReturn<'query-status'>, StatusInfo>>();
expectType<Equal<QmpCommandReturn<'add-fd'>, AddfdInfo>>();
expectType<Equal<QmpCommandReturn<'query-fdsets'>, FdsetInfo[]>>();
expectType<Equal<QmpCommandReturn<'human-monitor-command'>, string>>();
expectType<Equal<QmpCommandReturn<'stop'>, { [key: string]: never }>>();
expectType<Equal<QmpOobCommandName, 'migrate-recover' | 'migrate-pause' | 'yank' | 'query-yank'>>();
expectType<Equal<Extract<QmpCommandName, 'getfd' | 'closefd' | 'add_client' | 'no-such-command'>, 'getfd' | 'closefd' | 'add_client'>>();

// 64-bit integers are lossless; narrower ones are plain numbers
expectType<Equal<AddfdInfo['fd'], number | bigint>>();
expectType<Equal<FdsetInfo['fds'][number]['fd'], number | bigint>>();

export const addFd: QmpCommandArgs<'add-fd'> = { 'fdset-id': 1, opaque: 'rdonly:/tmp/x' };
export const addFdBig: QmpCommandArgs<'add-fd'> = { 'fdset-id': 2n ** 60n };
// @ts-expect-error unknown member
export const addFdTypo: QmpCommandArgs<'add-fd'> = { fdset: 1 };
// @ts-expect-error getfd requires fdname
export const getfdMissing: QmpCommandArgs<'getfd'> = {};
// @ts-expect-error fdname is a string
export const getfdWrong: QmpCommandArgs<'getfd'> = { fdname: 3 };

// gen: false commands accept extra properties (device_add takes any device property)
export const deviceAdd: QmpCommandArgs<'device_add'> = { driver: 'virtio-net-pci', netdev: 'n0', id: 'nic0', 'mac': '52:54:00:12:34:56' };

// Enums are literal unions
export const running: RunState = 'running';
// @ts-expect-error not a RunState
export const dancing: RunState = 'dancing';

// Unions are discriminated on their tag
export function fileName(o: BlockdevOptions): string | undefined {
  if (o.driver === 'file') return o.filename;
  // @ts-expect-error only the file-like branches have a filename
  return o.filename;
}
export const qcow2: BlockdevOptions = { driver: 'qcow2', 'node-name': 'disk0', file: 'proto0' };
// @ts-expect-error the qcow2 branch needs 'file'
export const qcow2NoFile: BlockdevOptions = { driver: 'qcow2', 'node-name': 'disk0' };
// @ts-expect-error not a BlockdevDriver
export const noDriver: BlockdevOptions = { driver: 'floppy-tape' };

// Events
expectType<Equal<QmpEventData<'STOP'>, undefined>>();
expectType<Equal<QmpEventData<'RTC_CHANGE'>['offset'], number | bigint>>();
expectType<Equal<Extract<QmpEventName, 'RTC_CHANGE' | 'SHUTDOWN' | 'NOPE'>, 'RTC_CHANGE' | 'SHUTDOWN'>>();
export const rtc: QmpEvents['RTC_CHANGE'] = { offset: 78, 'qom-path': '/machine/unattached/device[0]' };

// `any` is any JSON value, bigint included
export const anyValue: QmpJsonValue = { a: [1, 2n, 'x', null, true, { b: false }] };
