/**
 * The rtnetlink write worker's entry (write-sender.ts starts it): opens its socket in the namespace it
 * is given and sends what the main thread encoded. Imported anywhere else, it does nothing.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { realNetlinkSockets } from '../genl/socket.js';
import { NETLINK_ROUTE } from './rtnl.js';
import { serveWrites, type WorkerRequest, type WriteWorkerData } from './write-sender.js';

function main(): void {
  const port = parentPort;
  if (isMainThread || !port) return;
  const data = workerData as WriteWorkerData;
  const socket = realNetlinkSockets()(NETLINK_ROUTE, data.netns ? { netns: data.netns } : {});
  const serve = serveWrites(socket, (r) => port.postMessage(r));
  // One at a time, in the order they came.
  let queue = Promise.resolve();
  port.on('message', (req: WorkerRequest) => {
    queue = queue.then(() => serve(req));
  });
}

main();
