/** The config file's "websocket" section: values taken, bad fields named by their path. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../src/index.ts';

describe('config: websocket', () => {
  it('takes every option and normalises origins as a browser sends them', () => {
    const cfg = parseConfig({
      listen: ['ws://127.0.0.1:8080/qmp'],
      websocket: { origins: ['HTTPS://Ops.Example:443', '*', 'null'], tokenSubprotocol: false, keepaliveMs: 0, keepaliveTimeoutMs: 500, maxPayload: 4096, console: false },
    });
    assert.deepEqual(cfg.websocket, {
      origins: ['https://ops.example', '*', 'null'],
      tokenSubprotocol: false,
      keepaliveMs: 0,
      keepaliveTimeoutMs: 500,
      maxPayload: 4096,
      console: false,
    });
    assert.equal(parseConfig({}).websocket, undefined);
  });

  it('names the bad field', () => {
    const bad: [unknown, string][] = [
      [{ origins: ['https://ops.example/path'] }, 'config.websocket.origins[0]'],
      [{ origins: 'https://ops.example' }, 'config.websocket.origins'],
      [{ maxPayload: 0 }, 'config.websocket.maxPayload'],
      [{ keepaliveMs: -1 }, 'config.websocket.keepaliveMs'],
      [{ keepaliveTimeoutMs: 1.5 }, 'config.websocket.keepaliveTimeoutMs'],
      [{ console: 'yes' }, 'config.websocket.console'],
      [{ tokenSubprotocol: 1 }, 'config.websocket.tokenSubprotocol'],
      [{ token: 'x' }, 'config.websocket.token'],
      ['on', 'config.websocket'],
    ];
    for (const [websocket, path] of bad) {
      assert.throws(
        () => parseConfig({ websocket }),
        (e: unknown) => e instanceof ConfigError && e.path === path,
        path,
      );
    }
  });
});
