/**
 * The host of the thread-isolation benchmark (thread-isolation.ts): one process with two VMs' Proxies
 * (default plugins), vm1's in the main thread and vm2's either in the same thread (`shared`) or in a
 * worker thread of its own (`worker`). Prints `ready` once both listen; stops on SIGTERM.
 *   tsx thread-host.ts shared|worker QMP1 SOCK1 QMP2 SOCK2
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Proxy, createLogger } from '@qmpmux/core';
import { clientsPlugin } from '@qmpmux/plugin-clients';
import { fdsetsPlugin } from '@qmpmux/plugin-fdsets';

async function proxy(name: string, qmp: string, sock: string): Promise<Proxy> {
  const p = await Proxy.create({ name, upstream: `unix:${qmp}`, listen: [`unix:${sock}`], plugins: [{ definition: fdsetsPlugin, options: {} }, { definition: clientsPlugin, options: {} }], log: createLogger('qmpmux', 'warn'), warmUp: 0 });
  await p.start();
  return p;
}

if (isMainThread) {
  const [mode, qmp1, sock1, qmp2, sock2] = process.argv.slice(2) as [string, string, string, string, string];
  const vm1 = await proxy('vm1', qmp1, sock1);
  let stop2: () => Promise<unknown>;
  if (mode === 'worker') {
    const tsxApi = import.meta.resolve('tsx/esm/api');
    const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); })`;
    const w = new Worker(boot, { eval: true, workerData: { qmp: qmp2, sock: sock2 } });
    await new Promise<void>((resolve, reject) => w.once('message', () => resolve()).once('error', reject));
    stop2 = () => w.terminate();
  } else {
    const vm2 = await proxy('vm2', qmp2, sock2);
    stop2 = () => vm2.stop();
  }
  process.stdout.write('ready\n');
  process.once('SIGTERM', async () => {
    await Promise.all([vm1.stop(), stop2()]);
    process.exit(0);
  });
} else {
  const { qmp, sock } = workerData as { qmp: string; sock: string };
  await proxy('vm2', qmp, sock);
  parentPort!.postMessage('ready');
}
