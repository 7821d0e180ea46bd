/**
 * The netlink worker's entry (write-sender.ts starts it): sends the rtnetlink writes the main thread
 * encoded, in the order they came, and, while asked to, watches for deletions of our routes on a
 * socket whose filter lets only those through (polled every 250 ms: a quarter-second wake-up of an
 * otherwise idle thread). Imported anywhere else, it does nothing.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../../util/errors.js';
import { ENOBUFS, NetlinkError, realNetlinkSockets, type NetlinkSocket } from '../genl/socket.js';
import { routeDeletionFilter, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE } from './route-watch.js';
import { NETLINK_ROUTE } from './rtnl.js';
import { serveWrites, type ToWorker, type WorkerReply, type WriteWorkerData } from './write-sender.js';

const WATCH_POLL_MS = 250;

function main(): void {
  const port = parentPort;
  if (isMainThread || !port) return;
  const post = (r: WorkerReply): void => port.postMessage(r);
  const data = workerData as WriteWorkerData;
  const open = realNetlinkSockets();
  const where = data.netns ? { netns: data.netns } : {};
  let serve: ((req: Extract<ToWorker, { kind: 'write' }>) => Promise<void>) | undefined;
  let writes: NetlinkSocket | undefined;
  const writeSocket = (): NetlinkSocket => (writes ??= open(NETLINK_ROUTE, where));
  let watch: { readonly socket: NetlinkSocket; readonly timer: ReturnType<typeof setInterval> } | undefined;
  const stopWatch = (): void => {
    if (!watch) return;
    clearInterval(watch.timer);
    watch.socket.close();
    watch = undefined;
  };
  const poll = (socket: NetlinkSocket): void => {
    let deleted = false;
    try {
      while (socket.receive()) deleted = true;
    } catch (e) {
      // Notifications lost (the queue overflowed): some may have been deletions.
      if (e instanceof NetlinkError && e.errno === ENOBUFS) deleted = true;
      else {
        stopWatch();
        post({ kind: 'watch-failed', error: errorMessage(e) });
        return;
      }
    }
    if (deleted) post({ kind: 'deleted' });
  };
  // One at a time, in the order they came.
  let queue = Promise.resolve();
  port.on('message', (m: ToWorker) => {
    if (m.kind === 'write') {
      queue = queue.then(() => {
        try {
          serve ??= serveWrites(writeSocket(), post);
        } catch (e) {
          post({ kind: 'fatal', id: m.id, error: `rtnetlink write worker: ${errorMessage(e)}` });
          return;
        }
        return serve(m);
      });
    } else if (m.kind === 'watch') {
      stopWatch();
      try {
        // Deletions our own writes cause (a withdrawn route, a nexthop object removed) are not reported.
        let ownPort: number | undefined;
        try {
          ownPort = writeSocket().portId?.();
        } catch {
          ownPort = undefined; // the writes will report their own failure
        }
        const socket = open(NETLINK_ROUTE, { ...where, groups: [RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE], filter: routeDeletionFilter(m.protocol, undefined, ownPort), receiveBuffer: 1 << 20 });
        watch = { socket, timer: setInterval(() => poll(socket), WATCH_POLL_MS) };
      } catch (e) {
        post({ kind: 'watch-failed', error: errorMessage(e) });
      }
    } else stopWatch();
  });
}

main();
