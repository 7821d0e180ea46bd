/**
 * Routes written over our own rtnetlink socket (NETLINK_ROUTE): RTM_NEWROUTE (create or replace) and
 * RTM_DELROUTE, many per datagram, each answered on its own (one failing route does not stop the
 * others). No process per batch. Interface names become indexes through libc's if_nametoindex, in the
 * socket's network namespace.
 */
import { ErrorCode, KubeRouterError } from '../../util/errors.js';
import { cidrParts, familyOf, ipToBytes, type Family } from '../../util/ip.js';
import { attr, NLMSG_HDRLEN, encodeAttrs, type Attr } from '../genl/message.js';
import { NetlinkRequester, type Encode } from '../genl/requester.js';
import type { NetlinkError, NetlinkSocket, OpenNetlinkSocket } from '../genl/socket.js';
import type { Route } from './types.js';

export const NETLINK_ROUTE = 0;
const RTM_NEWROUTE = 24;
const RTM_DELROUTE = 25;
const NLM_F_REPLACE = 0x100;
const NLM_F_CREATE = 0x400;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PREFSRC = 7;
const RTA_TABLE = 15;
const RTNH_F_ONLINK = 4;
const RTN = { unicast: 1, local: 2, blackhole: 6 } as const;
const SCOPE = { global: 0, link: 253, host: 254, nowhere: 255 } as const;
const RTMSG_LEN = 12;

export type RouteWrite = { readonly op: 'replace' | 'delete'; readonly route: Route };

/** The rtmsg and attributes of one route request (RFC 3549 2.3.3.2; linux/rtnetlink.h). */
export function encodeRoute(w: RouteWrite, ifindex: number | undefined, seq: number, flags: number): Buffer {
  const r = w.route;
  const family: Family = familyOf(r.dst);
  const { prefix, ip } = cidrParts(r.dst);
  const type = r.type ?? 'unicast';
  // iproute2's defaults: local routes are host-scoped, a unicast route without a gateway is link-scoped;
  // a delete matches any scope.
  const scope = w.op === 'delete' ? SCOPE.nowhere : r.scope !== undefined ? SCOPE[r.scope] : type === 'local' ? SCOPE.host : type === 'unicast' && !r.gateway ? SCOPE.link : SCOPE.global;
  const attrs: Attr[] = [{ type: RTA_DST, value: Buffer.from(ipToBytes(ip)) }, attr.u32(RTA_TABLE, r.table)];
  if (r.gateway) attrs.push({ type: RTA_GATEWAY, value: Buffer.from(ipToBytes(r.gateway)) });
  if (ifindex !== undefined) attrs.push(attr.u32(RTA_OIF, ifindex));
  if (r.src) attrs.push({ type: RTA_PREFSRC, value: Buffer.from(ipToBytes(r.src)) });
  const body = encodeAttrs(attrs);
  const len = NLMSG_HDRLEN + RTMSG_LEN + body.length;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(len, 0);
  b.writeUInt16LE(w.op === 'replace' ? RTM_NEWROUTE : RTM_DELROUTE, 4);
  b.writeUInt16LE(flags | (w.op === 'replace' ? NLM_F_CREATE | NLM_F_REPLACE : 0), 6);
  b.writeUInt32LE(seq >>> 0, 8);
  const o = NLMSG_HDRLEN;
  b.writeUInt8(family === 4 ? 2 : 10, o);
  b.writeUInt8(prefix, o + 1);
  b.writeUInt8(r.table < 256 ? r.table : 0, o + 4);
  b.writeUInt8(r.protocol, o + 5);
  b.writeUInt8(scope, o + 6);
  b.writeUInt8(w.op === 'delete' && r.type === undefined ? 0 : RTN[type], o + 7);
  b.writeUInt32LE(r.onlink ? RTNH_F_ONLINK : 0, o + 8);
  body.copy(b, o + RTMSG_LEN);
  return b;
}

export interface RouteWriter {
  /** Every write is tried; the failures come back in order (undefined: done). */
  write(writes: readonly RouteWrite[]): Promise<(NetlinkError | KubeRouterError | undefined)[]>;
  close(): void;
}

export interface RouteWriterOptions {
  readonly netns?: string;
  /** Interface index by name in the socket's namespace; 0 when there is none. */
  readonly ifindex: (name: string) => number;
  readonly maxInFlight?: number;
}

export function openRouteWriter(sockets: OpenNetlinkSocket, opts: RouteWriterOptions): RouteWriter {
  const socket: NetlinkSocket = sockets(NETLINK_ROUTE, opts.netns ? { netns: opts.netns } : {});
  // Route requests are small and their answers (ACKs) smaller: 256 per window.
  const requester = new NetlinkRequester(socket, { maxInFlight: opts.maxInFlight ?? 256, replyTimeoutMs: 5000, what: 'rtnetlink' });
  return {
    async write(writes) {
      const cache = new Map<string, number>();
      const out: (NetlinkError | KubeRouterError | undefined)[] = new Array<undefined>(writes.length).fill(undefined);
      const encoders: Encode[] = [];
      const at: number[] = [];
      writes.forEach((w, i) => {
        const dev = w.route.dev;
        let index: number | undefined;
        if (dev !== undefined) {
          index = cache.get(dev) ?? opts.ifindex(dev);
          cache.set(dev, index);
          if (index === 0) {
            out[i] = new KubeRouterError(ErrorCode.NotFound, `rtnetlink: no device ${dev}`);
            return;
          }
        }
        encoders.push((seq, flags) => encodeRoute(w, index, seq, flags));
        at.push(i);
      });
      const results = await requester.batch(encoders);
      results.forEach((e, j) => {
        const i = at[j];
        if (i !== undefined) out[i] = e;
      });
      return out;
    },
    close: () => socket.close(),
  };
}
