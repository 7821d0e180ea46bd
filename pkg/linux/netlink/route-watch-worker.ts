/**
 * The route-deletion watch's worker (route-watch.ts starts it): blocks on a netlink socket joined to
 * the route groups with a filter that lets only deletions of our protocol through, and tells the main
 * thread once per burst. It wakes every 250 ms at most to be stoppable. Imported anywhere else, it
 * does nothing.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../../util/errors.js';
import { ENOBUFS, NetlinkError, realNetlinkSockets } from '../genl/socket.js';
import { NETLINK_ROUTE } from './rtnl.js';
import { routeDeletionFilter, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, type RouteWatchData, type RouteWatchMessage } from './route-watch.js';

function main(): void {
  const port = parentPort;
  if (isMainThread || !port) return;
  const post = (m: RouteWatchMessage): void => port.postMessage(m);
  const data = workerData as RouteWatchData;
  let socket;
  try {
    socket = realNetlinkSockets()(NETLINK_ROUTE, { ...(data.netns ? { netns: data.netns } : {}), groups: [RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE], filter: routeDeletionFilter(data.protocol), receiveTimeoutMs: 250, receiveBuffer: 1 << 20 });
  } catch (e) {
    post({ kind: 'failed', error: errorMessage(e) });
    return;
  }
  for (;;) {
    try {
      if (!socket.receive(true)) continue;
      // A burst (someone flushing our routes) is one message: drain what is queued first.
      while (socket.receive(false));
      post({ kind: 'deleted' });
    } catch (e) {
      // Notifications lost (the queue overflowed): some may have been deletions.
      if (e instanceof NetlinkError && e.errno === ENOBUFS) {
        post({ kind: 'deleted' });
        continue;
      }
      post({ kind: 'failed', error: errorMessage(e) });
      return;
    }
  }
}

main();
