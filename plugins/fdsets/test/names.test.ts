/** Where names are found and how they are rewritten (no QEMU: the rewrite is a pure function). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rewriteNames, restoreNames, isRawFdNumber, Tags, parseTag } from '../src/index.ts';
import { ClientLedger, MAX_TRACKED_NAMES } from '../src/ledger.ts';
import type { JsonPlain } from '@qmpmux/core';

const up = (n: string) => `U-${n}`;

describe('rewriteNames', () => {
  it('rewrites fdname of getfd, closefd and add_client, and nothing else in them', () => {
    for (const command of ['getfd', 'closefd', 'add_client']) {
      const r = rewriteNames(command, { fdname: 'fd1', protocol: 'ch0' }, up);
      assert.deepEqual(r, { arguments: { fdname: 'U-fd1', protocol: 'ch0' }, names: ['fd1'] });
    }
  });

  it('leaves names that start with a digit, non-strings and commands without names alone', () => {
    assert.equal(rewriteNames('getfd', { fdname: '1x' }, up), undefined);
    assert.equal(rewriteNames('closefd', { fdname: 5 as never }, up), undefined);
    assert.equal(rewriteNames('query-status', undefined, up), undefined);
    assert.equal(rewriteNames('netdev_add', { type: 'user', id: 'n0' }, up), undefined);
    assert.equal(rewriteNames('migrate', { uri: 'tcp:localhost:4444' }, up), undefined);
    assert.equal(rewriteNames('migrate', { uri: 'fd:42' }, up), undefined);
    assert.ok(isRawFdNumber('0') && isRawFdNumber('9abc') && !isRawFdNumber('') && !isRawFdNumber('a9') && !isRawFdNumber('-1'));
  });

  it('rewrites netdev fd arguments, element by element in colon-separated lists, raw numbers kept', () => {
    const r = rewriteNames('netdev_add', { type: 'tap', id: 't0', fd: 'a', fds: 'b:17:c', vhostfd: 'd', vhostfds: 'e:f' }, up);
    assert.deepEqual(r?.arguments, { type: 'tap', id: 't0', fd: 'U-a', fds: 'U-b:17:U-c', vhostfd: 'U-d', vhostfds: 'U-e:U-f' });
    assert.deepEqual(r?.names.sort(), ['a', 'b', 'c', 'd', 'e', 'f']);
    assert.deepEqual(rewriteNames('netdev_add', { type: 'af-xdp', id: 'x', ifname: 'eth0', 'sock-fds': 's1:s2' }, up)?.arguments['sock-fds'], 'U-s1:U-s2');
  });

  it('rewrites device_add and object-add fd properties', () => {
    assert.deepEqual(rewriteNames('device_add', { driver: 'vhost-vsock-pci', vhostfd: 'v', 'guest-cid': 3 }, up)?.arguments, { driver: 'vhost-vsock-pci', vhostfd: 'U-v', 'guest-cid': 3 });
    assert.deepEqual(rewriteNames('object-add', { 'qom-type': 'iommufd', id: 'i', fd: 'io' }, up)?.arguments, { 'qom-type': 'iommufd', id: 'i', fd: 'U-io' });
  });

  it('rewrites fd:NAME URIs of migrate, migrate-incoming and dump-guest-memory', () => {
    assert.deepEqual(rewriteNames('migrate', { uri: 'fd:mig' }, up)?.arguments, { uri: 'fd:U-mig' });
    assert.deepEqual(rewriteNames('migrate-incoming', { uri: 'fd:in' }, up)?.arguments, { uri: 'fd:U-in' });
    assert.deepEqual(rewriteNames('dump-guest-memory', { paging: false, protocol: 'fd:dump' }, up)?.arguments, { paging: false, protocol: 'fd:U-dump' });
  });

  it('finds SocketAddress of type fd anywhere, flat and legacy, and copies instead of changing the input', () => {
    const args: Record<string, JsonPlain> = {
      id: 'c',
      backend: { type: 'socket', data: { addr: { type: 'fd', data: { str: 'legacy' } }, server: false } },
      list: [{ channel: 'main', addr: { transport: 'socket', type: 'fd', str: 'flat' } }, { addr: { type: 'unix', path: '/x' } }],
    };
    const before = JSON.stringify(args);
    const r = rewriteNames('chardev-add', args, up)!;
    assert.equal(JSON.stringify(args), before, 'input untouched');
    assert.equal((r.arguments.list as JsonPlain[])[1], (args.list as JsonPlain[])[1], 'unchanged parts are shared');
    assert.deepEqual(r.arguments, {
      id: 'c',
      backend: { type: 'socket', data: { addr: { type: 'fd', data: { str: 'U-legacy' } }, server: false } },
      list: [{ channel: 'main', addr: { transport: 'socket', type: 'fd', str: 'U-flat' } }, { addr: { type: 'unix', path: '/x' } }],
    });
    assert.deepEqual(r.names, ['legacy', 'flat']);
    assert.equal(rewriteNames('blockdev-add', { driver: 'nbd', 'node-name': 'n', server: { type: 'fd', str: '3' } }, up), undefined);
  });

  it('restoreNames puts the client names back, longest upstream name first', () => {
    const pairs: [string, string][] = [
      ['U-a', 'a'],
      ['U-ab', 'ab'],
    ];
    assert.equal(restoreNames("File descriptor named 'U-ab' has not been found", pairs), "File descriptor named 'ab' has not been found");
    assert.equal(restoreNames("named 'U-a' and 'U-ab'", pairs), "named 'a' and 'ab'");
  });
});

describe('tags', () => {
  it('upstream names never start with a digit, hold no colon, and differ per client and per instance', () => {
    const t = new Tags();
    const n = t.upstreamName(12, 'fd1');
    assert.ok(!isRawFdNumber(n) && !n.includes(':'));
    assert.notEqual(n, t.upstreamName(1, 'fd1'));
    assert.notEqual(n, new Tags().upstreamName(12, 'fd1'));
  });

  it('opaque tags keep the client opaque exactly, including none, empty and colons', () => {
    const t = new Tags('e1');
    assert.deepEqual(parseTag(t.opaque(3, undefined)), { epoch: 'e1', client: 3, opaque: undefined });
    assert.deepEqual(parseTag(t.opaque(3, '')), { epoch: 'e1', client: 3, opaque: '' });
    assert.deepEqual(parseTag(t.opaque(3, 'a:b\nc')), { epoch: 'e1', client: 3, opaque: 'a:b\nc' });
    assert.equal(t.ownerOf(t.opaque(3, 'x')), 3);
    assert.equal(t.ownerOf(new Tags('e2').opaque(3, 'x')), undefined, "another instance's tag is nobody's here");
    assert.equal(parseTag('hello'), undefined);
    assert.equal(parseTag(undefined), undefined);
  });
});

describe('ClientLedger', () => {
  it('follows getfd, closefd and consumers as QEMU does', () => {
    const l = new ClientLedger();
    l.getfdSent('a', 'U-a');
    assert.deepEqual(l.names.get('a'), { upstream: 'U-a', defined: false, inflight: 1, maybeHeld: false });
    l.getfdDone('a', false);
    assert.equal(l.names.size, 0, 'a failed getfd of a new name leaves nothing');
    l.getfdSent('a', 'U-a');
    l.getfdDone('a', true);
    l.getfdSent('a', 'U-a');
    l.getfdDone('a', false);
    assert.equal(l.names.get('a')?.defined, true, 'a failed getfd keeps the earlier fd of that name');
    l.closed('a');
    assert.equal(l.names.size, 0);
    l.getfdSent('b', 'U-b');
    l.getfdDone('b', true);
    l.consumed('b', false);
    assert.deepEqual(l.names.get('b'), { upstream: 'U-b', defined: false, inflight: 0, maybeHeld: true }, 'closed at departure, in case QEMU did not take it');
    l.consumed('b', true);
    assert.equal(l.names.size, 0, 'QEMU said it has no such name');
  });

  it('forgets the oldest maybe-held names beyond MAX_TRACKED_NAMES, never a defined one', () => {
    const l = new ClientLedger();
    l.getfdSent('keep', 'U-keep');
    l.getfdDone('keep', true);
    for (let i = 0; i < MAX_TRACKED_NAMES + 10; i++) {
      l.getfdSent(`n${i}`, `U-n${i}`);
      l.getfdDone(`n${i}`, true);
      l.consumed(`n${i}`, false);
    }
    assert.equal(l.names.size, MAX_TRACKED_NAMES);
    assert.equal(l.names.get('keep')?.defined, true);
    assert.ok(!l.names.has('n0') && l.names.has(`n${MAX_TRACKED_NAMES + 9}`));
  });
});
