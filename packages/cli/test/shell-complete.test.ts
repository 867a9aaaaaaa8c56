/** The shell's Tab completion (complete.ts), on the schema of a real QEMU asked through qmpmux. */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { QmpClient } from '@qmpmux/client';
import { useProxy } from '@qmpmux/e2e';
import { Completer } from '../src/complete.ts';
import { completeCommand } from '../src/shell.ts';

describe('shell Tab completion', () => {
  const names = ['__org.qmpmux_query-clients', 'query-status', 'query-version', 'stop'];
  it('completeCommand: the command name only', () => {
    assert.deepEqual(completeCommand(names, 'query-'), [['query-status', 'query-version'], 'query-']);
    assert.deepEqual(completeCommand(names, '  st'), [['stop'], 'st']);
    assert.deepEqual(completeCommand(names, '__org'), [['__org.qmpmux_query-clients'], '__org']);
    assert.deepEqual(completeCommand(names, 'stop x='), [[], 'stop x=']);
    assert.deepEqual(completeCommand(names, '{"exec'), [[], '{"exec']);
    assert.deepEqual(completeCommand(names, ''), [[], '']);
  });
});

describe('shell Tab completion from query-commands and query-qmp-schema (QEMU behind qmpmux)', () => {
  const c = new Completer();
  const words = (line: string, tx = false) => c.complete(line, tx)[0];

  const { mux } = useProxy({ tcp: false });
  before(async () => {
    const qmp = await QmpClient.connect(mux.unix);
    await c.load(qmp);
    qmp.close();
  });

  it('command names, and transaction( since this principal may run transaction', () => {
    assert.deepEqual(words('query-sta'), ['query-stats', 'query-stats-schemas', 'query-status']);
    assert.deepEqual(words('transac'), ['transaction', 'transaction(']);
    assert.deepEqual(c.complete('  quer', false)[1], 'quer', 'the word replaced');
  });

  it("argument names as key=, an object member as key., members given already left out", () => {
    assert.deepEqual(words('human-monitor-command '), ['command-line=', 'cpu-index=']);
    assert.deepEqual(words('human-monitor-command command-line="info status" '), ['cpu-index=']);
    assert.deepEqual(words('blockdev-add ca'), ['cache.']);
    assert.deepEqual(words('blockdev-add cache.'), ['cache.direct=', 'cache.no-flush=']);
    assert.deepEqual(words('blockdev-add cache.direct=true cache.'), ['cache.no-flush=']);
    assert.deepEqual(words('blockdev-add cache.direct=true ca'), ['cache.'], 'an object given in part still has members');
  });

  it("a union's branch members once its tag is given; an alternate of object and string offers both", () => {
    assert.ok(!words('blockdev-add ').includes('size='));
    assert.deepEqual(words('blockdev-add driver=null-co s'), ['size=']);
    assert.deepEqual(words('blockdev-add driver=qcow2 fi'), ['file.', 'file=']);
    assert.deepEqual(words('blockdev-add driver=qcow2 file.driver=file file.fi'), ['file.filename=']);
  });

  it('enum and boolean values', () => {
    assert.deepEqual(words('blockdev-add driver=null-'), ['driver=null-aio', 'driver=null-co']);
    assert.deepEqual(words('blockdev-add read-only='), ['read-only=true', 'read-only=false']);
    assert.deepEqual(words('blockdev-add cache.direct=f'), ['cache.direct=false']);
    assert.deepEqual(words('human-monitor-command command-line='), [], 'a string: nothing to offer');
  });

  it('inside transaction(: action types and their data members', () => {
    assert.ok(words('block-dirty-bitmap-a', true).includes('block-dirty-bitmap-add'));
    assert.deepEqual(words('', true).slice(0, 2), [')', 'abort']);
    assert.deepEqual(words('block-dirty-bitmap-add n', true), ['name=', 'node=']);
    assert.deepEqual(words('transaction( block-dirty-bitmap-add node=n0 n'), ['name='], 'actions on the transaction( line too');
  });

  it('nothing for raw JSON, an open quote, or an unknown command', () => {
    assert.deepEqual(words('{"execute": "query-'), []);
    assert.deepEqual(words('human-monitor-command command-line="info '), []);
    assert.deepEqual(words('nosuch a'), []);
  });

  it('-H: HMP commands (aliases too) and info subcommands, from HMP help', async () => {
    const qmp = await QmpClient.connect(mux.unix);
    const h = new Completer();
    await h.loadHmp(qmp);
    qmp.close();
    assert.deepEqual(h.completeHmp('inf')[0], ['info']);
    assert.ok(h.completeHmp('c')[0].includes('cont') && h.completeHmp('c')[0].includes('c'), 'c|cont: both names');
    assert.deepEqual(h.completeHmp('info vers')[0], ['version']);
    assert.deepEqual(h.completeHmp('info version x')[0], []);
  });
});
