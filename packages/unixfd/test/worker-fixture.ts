/** Runs inside a worker thread: opens sockets and a server, then ends with all of them still open. */
import { parentPort, workerData } from 'node:worker_threads';
import { UnixServer, UnixSocket } from '../src/index.ts';

const { path, ownPath } = workerData as { path: string; ownPath: string };
const srv = await UnixServer.listen(ownPath);
srv.on('connection', (s) => s.resume());
const idle = await UnixSocket.connect(path); // paused: no poll armed
const reading = await UnixSocket.connect(path);
reading.on('data', () => {});
reading.resume(); // poll armed for reading
const self = await UnixSocket.connect(ownPath);
self.write(Buffer.alloc(4 << 20)); // a blocked write: poll armed for writing
void idle;
parentPort!.on('message', () => process.exit(0));
parentPort!.postMessage('ready');
