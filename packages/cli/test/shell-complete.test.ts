import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { completeCommand } from '../src/shell.ts';

describe('shell Tab completion', () => {
  const names = ['__org.qmpmux_query-clients', 'query-status', 'query-version', 'stop'];
  it('completes the command name only', () => {
    assert.deepEqual(completeCommand(names, 'query-'), [['query-status', 'query-version'], 'query-']);
    assert.deepEqual(completeCommand(names, '  st'), [['stop'], 'st']);
    assert.deepEqual(completeCommand(names, '__org'), [['__org.qmpmux_query-clients'], '__org']);
    assert.deepEqual(completeCommand(names, 'stop x='), [[], 'stop x=']);
    assert.deepEqual(completeCommand(names, '{"exec'), [[], '{"exec']);
    assert.deepEqual(completeCommand(names, ''), [[], '']);
  });
});
