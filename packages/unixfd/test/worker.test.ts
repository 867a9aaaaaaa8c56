import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { UnixServer, openFdCount } from '../src/index.ts';
import { delay, tmpDir } from './helpers.ts';

// A worker's env teardown must close its poll handles (libuv aborts a worker whose loop
// still has open handles) and must not call into JS any more.
test('worker threads that exit or are terminated with sockets open neither crash nor leak', async (t) => {
  const tmp = tmpDir();
  const path = join(tmp.dir, 'main.sock');
  const srv = await UnixServer.listen(path);
  const accepted = new Set<import('../src/index.ts').UnixSocket>();
  srv.on('connection', (s) => {
    accepted.add(s);
    s.on('data', () => {});
    s.on('close', () => accepted.delete(s));
    s.resume();
  });
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const fixture = new URL('./worker-fixture.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(fixture)}); })`;
  const run = async (i: number) => {
    const w = new Worker(boot, { eval: true, workerData: { path, ownPath: join(tmp.dir, `w${i}.sock`) } });
    const errors: unknown[] = [];
    w.on('error', (e) => errors.push(e));
    await once(w, 'message');
    if (i % 2 === 0) await w.terminate();
    else w.postMessage('exit'); // the fixture then exits on its own
    if (i % 2 === 1) await once(w, 'exit');
    assert.deepEqual(errors, []);
  };
  await run(0);
  while (accepted.size > 0) await delay(5);
  const before = openFdCount();
  for (let i = 1; i <= 6; i++) await run(i);
  while (accepted.size > 0) await delay(5); // the worker's sockets reached EOF on our side
  t.diagnostic(`open fds before=${before} after=${openFdCount()}`);
  assert.equal(openFdCount(), before, 'the workers closed their fds at teardown');
  await srv.close();
  tmp.cleanup();
});
