/** The config's addresses are checked when it is read, the bad field named (qmpmux serve --check-config). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../src/index.ts';

describe('config addresses', () => {
  it('upstream is unix:PATH or tcp:HOST:PORT; listen any listener address', () => {
    const ok = parseConfig({ upstream: 'tcp:127.0.0.1:4444', listen: ['unix:/run/q.sock', 'tcp:127.0.0.1:0', 'tls:[::1]:4445', 'ws://127.0.0.1:8080/qmp', 'wss://h:443/x'] });
    assert.equal(ok.upstream, 'tcp:127.0.0.1:4444');
    assert.equal(ok.listen.length, 5);
  });

  it('refuses a bad one, naming the field and what was expected', () => {
    const cases: [unknown, string, RegExp][] = [
      [{ upstream: 'foo' }, 'config.upstream', /^bad address 'foo': expected unix:PATH, tcp:HOST:PORT/],
      [{ upstream: 'ws://h:1/x' }, 'config.upstream', /QEMU's QMP socket is unix:PATH or tcp:HOST:PORT/],
      [{ upstream: 5 }, 'config.upstream', /expected a non-empty string/],
      [{ listen: ['unix:/x.sock', 'tcp:1.2.3.4'] }, 'config.listen[1]', /^bad address 'tcp:1\.2\.3\.4': expected HOST:PORT$/],
      [{ listen: ['tcp:h:70000'] }, 'config.listen[0]', /port out of range/],
      [{ listen: ['unix:'] }, 'config.listen[0]', /empty path/],
      [{ listen: ['ws://'] }, 'config.listen[0]', /^bad address 'ws:\/\/': not a URL$/],
    ];
    for (const [raw, path, problem] of cases) {
      assert.throws(
        () => parseConfig(raw),
        (e: unknown) => e instanceof ConfigError && e.path === path && problem.test(e.problem),
        JSON.stringify(raw),
      );
    }
  });
});
