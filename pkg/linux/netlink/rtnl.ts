/**
 * Routes and addresses written over our own rtnetlink socket (NETLINK_ROUTE): RTM_NEWROUTE (create or
 * replace), RTM_DELROUTE, RTM_NEWADDR (create, exclusive: an address already there is EEXIST, as
 * `ip address add` says) and RTM_DELADDR, many per datagram, each answered on its own (one failing route does not stop the
 * others). No process per batch. Interface names become indexes through libc's if_nametoindex, in the
 * socket's network namespace.
 */
import { ErrorCode, KubeRouterError } from '../../util/errors.js';
import { cidrParts, familyOf, ipFromBytes, ipToBytes, tryParseCIDR, writeIP, ipv4NumberOf, prefixLengthOf, type CIDR, type Family, type IP } from '../../util/ip.js';
import { attr, decodeAttrs, encodeAttrs, NLMSG_HDRLEN, read } from '../genl/message.js';
import { NetlinkRequester, type Encode } from '../genl/requester.js';
import { NetlinkWorker, RTNL_WINDOW, threadWriteSender, type DeletionWatch, type WriteSender } from './write-sender.js';
import type { NetlinkError, NetlinkSocket, OpenNetlinkSocket } from '../genl/socket.js';
import { lacksNexthopDetail, withNexthopDetail } from './through-nexthop.js';
import type { Address, GatewayNexthop, Link, Nexthop, Route, RouteRule } from './types.js';

export const NETLINK_ROUTE = 0;
const RTM_NEWADDR = 20;
const RTM_DELADDR = 21;
const NLM_F_EXCL = 0x200;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFADDRMSG_LEN = 8;
const RTM_NEWROUTE = 24;
const RTM_DELROUTE = 25;
const NLM_F_REPLACE = 0x100;
const NLM_F_CREATE = 0x400;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PREFSRC = 7;
const RTA_TABLE = 15;
const RTA_NH_ID = 30;
const RTM_NEWNEXTHOP = 104;
const RTM_DELNEXTHOP = 105;
const RTM_GETNEXTHOP = 106;
const NHMSG_LEN = 8;
const NHA_ID = 1;
const NHA_OIF = 5;
const NHA_GATEWAY = 6;
const RTNH_F_ONLINK = 4;
const RTN = { unicast: 1, local: 2, blackhole: 6 } as const;
const SCOPE = { global: 0, link: 253, host: 254, nowhere: 255 } as const;
const RTMSG_LEN = 12;

export type RouteWrite = { readonly op: 'replace' | 'delete'; readonly route: Route };
export type AddressWrite = { readonly op: 'add-address' | 'delete-address'; readonly dev: string; readonly ip: IP; readonly prefix: number };
export type NexthopWrite = { readonly op: 'add-nexthop'; readonly nexthop: GatewayNexthop } | { readonly op: 'delete-nexthop'; readonly id: number };
export type RtnlWrite = RouteWrite | AddressWrite | NexthopWrite;

/** The device a write names, if any (resolved to an index before encoding). */
function deviceOf(w: RtnlWrite): string | undefined {
  switch (w.op) {
    case 'replace':
    case 'delete':
      return w.route.dev;
    case 'add-address':
    case 'delete-address':
      return w.dev;
    case 'add-nexthop':
      return w.nexthop.dev;
    case 'delete-nexthop':
      return undefined;
  }
}

/** One rtnetlink message: nlmsghdr, then the kind's fixed header (ifaddrmsg, rtmsg, ...), then attributes. */
function rtnlMessage(type: number, flags: number, seq: number, header: Buffer, body: Buffer = Buffer.alloc(0)): Buffer {
  const len = NLMSG_HDRLEN + header.length + body.length;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(len, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(seq >>> 0, 8);
  header.copy(b, NLMSG_HDRLEN);
  body.copy(b, NLMSG_HDRLEN + header.length);
  return b;
}

/** The ifaddrmsg and attributes of one address request (linux/if_addr.h). */
export function encodeAddress(w: AddressWrite, ifindex: number, seq: number, flags: number): Buffer {
  const family: Family = familyOf(w.ip);
  const bytes = Buffer.from(ipToBytes(w.ip));
  const body = encodeAttrs([{ type: IFA_LOCAL, value: bytes }, { type: IFA_ADDRESS, value: bytes }]);
  const h = Buffer.alloc(IFADDRMSG_LEN);
  h.writeUInt8(family === 4 ? 2 : 10, 0);
  h.writeUInt8(w.prefix, 1);
  // flags 0, scope 0: RT_SCOPE_UNIVERSE, as `ip address add` without a scope
  h.writeUInt32LE(ifindex, 4);
  return rtnlMessage(w.op === 'add-address' ? RTM_NEWADDR : RTM_DELADDR, flags | (w.op === 'add-address' ? NLM_F_CREATE | NLM_F_EXCL : 0), seq, h, body);
}

/**
 * The nhmsg and attributes of one nexthop request (linux/nexthop.h): create (exclusive: an id taken
 * is EEXIST, never someone else's object replaced) with its id, device and gateway; delete by id alone.
 */
export function encodeNexthop(w: NexthopWrite, ifindex: number, seq: number, flags: number): Buffer {
  const h = Buffer.alloc(NHMSG_LEN);
  if (w.op === 'delete-nexthop') return rtnlMessage(RTM_DELNEXTHOP, flags, seq, h, encodeAttrs([attr.u32(NHA_ID, w.id)]));
  const n = w.nexthop;
  h.writeUInt8(familyOf(n.gateway) === 4 ? 2 : 10, 0);
  // scope 0 (universe), as `ip nexthop add`; the kernel makes it link for a gateway
  h.writeUInt8(n.protocol, 2);
  h.writeUInt32LE(n.onlink ? RTNH_F_ONLINK : 0, 4);
  const body = encodeAttrs([attr.u32(NHA_ID, n.id), attr.u32(NHA_OIF, ifindex), attr.bytes(NHA_GATEWAY, ipToBytes(n.gateway))]);
  return rtnlMessage(RTM_NEWNEXTHOP, flags | NLM_F_CREATE | NLM_F_EXCL, seq, h, body);
}

const NLA_HDRLEN = 4;

/**
 * One route request (the rtmsg and its attributes, RFC 3549 2.3.3.2; linux/rtnetlink.h) written into
 * `buf` at `at`, or only measured without `buf`; its length in bytes. Nothing is allocated for an IPv4
 * route: a learned table of 100,000 is encoded into one buffer.
 */
export function writeRoute(buf: Buffer | undefined, at: number, w: RouteWrite, ifindex: number | undefined, seq: number, flags: number): number {
  const r = w.route;
  const family: Family = familyOf(r.dst);
  const prefix = prefixLengthOf(r.dst);
  const addrLen = family === 4 ? 4 : 16;
  // Through a nexthop object: its id stands for the gateway and the device.
  const nh = r.nexthop;
  const gateway = nh === undefined ? r.gateway : undefined;
  const oif = nh === undefined ? ifindex : undefined;
  const len = NLMSG_HDRLEN + RTMSG_LEN + (NLA_HDRLEN + addrLen) + (NLA_HDRLEN + 4) + (gateway ? NLA_HDRLEN + addrLen : 0) + (oif !== undefined ? NLA_HDRLEN + 4 : 0) + (nh !== undefined ? NLA_HDRLEN + 4 : 0) + (r.src ? NLA_HDRLEN + addrLen : 0);
  if (!buf) return len;
  const type = r.type ?? 'unicast';
  // iproute2's defaults: local routes are host-scoped, a unicast route without a gateway is link-scoped;
  // a delete matches any scope.
  const scope = w.op === 'delete' ? SCOPE.nowhere : r.scope !== undefined ? SCOPE[r.scope] : type === 'local' ? SCOPE.host : type === 'unicast' && !r.gateway && nh === undefined ? SCOPE.link : SCOPE.global;
  buf.writeUInt32LE(len, at);
  buf.writeUInt16LE(w.op === 'replace' ? RTM_NEWROUTE : RTM_DELROUTE, at + 4);
  buf.writeUInt16LE(flags | (w.op === 'replace' ? NLM_F_CREATE | NLM_F_REPLACE : 0), at + 6);
  buf.writeUInt32LE(seq >>> 0, at + 8);
  buf.writeUInt32LE(0, at + 12);
  let o = at + NLMSG_HDRLEN;
  buf.writeUInt8(family === 4 ? 2 : 10, o);
  buf.writeUInt8(prefix, o + 1);
  buf.writeUInt16LE(0, o + 2); // src_len, tos
  buf.writeUInt8(r.table < 256 ? r.table : 0, o + 4);
  buf.writeUInt8(r.protocol, o + 5);
  buf.writeUInt8(scope, o + 6);
  buf.writeUInt8(w.op === 'delete' && r.type === undefined ? 0 : RTN[type], o + 7);
  buf.writeUInt32LE(r.onlink && nh === undefined ? RTNH_F_ONLINK : 0, o + 8);
  o += RTMSG_LEN;
  const ipAttr = (t: number, ip: IP): void => {
    buf.writeUInt16LE(NLA_HDRLEN + addrLen, o);
    buf.writeUInt16LE(t, o + 2);
    o += NLA_HDRLEN + writeIP(ip, buf, o + NLA_HDRLEN);
  };
  const u32Attr = (t: number, v: number): void => {
    buf.writeUInt16LE(NLA_HDRLEN + 4, o);
    buf.writeUInt16LE(t, o + 2);
    buf.writeUInt32LE(v >>> 0, o + NLA_HDRLEN);
    o += NLA_HDRLEN + 4;
  };
  if (family === 4) {
    // The destination straight from its text (the hot path: a learned table is 100,000 of these).
    buf.writeUInt16LE(NLA_HDRLEN + 4, o);
    buf.writeUInt16LE(RTA_DST, o + 2);
    buf.writeUInt32BE(ipv4NumberOf(r.dst), o + NLA_HDRLEN);
    o += NLA_HDRLEN + 4;
  } else ipAttr(RTA_DST, cidrParts(r.dst).ip);
  u32Attr(RTA_TABLE, r.table);
  if (gateway) ipAttr(RTA_GATEWAY, gateway);
  if (oif !== undefined) u32Attr(RTA_OIF, oif);
  if (nh !== undefined) u32Attr(RTA_NH_ID, nh);
  if (r.src) ipAttr(RTA_PREFSRC, r.src);
  return len;
}

/** One route request as a buffer of its own. */
export function encodeRoute(w: RouteWrite, ifindex: number | undefined, seq: number, flags: number): Buffer {
  const b = Buffer.alloc(writeRoute(undefined, 0, w, ifindex, seq, flags));
  writeRoute(b, 0, w, ifindex, seq, flags);
  return b;
}

export interface RouteWriter {
  /** Every write is tried; the failures come back in order (undefined: done). */
  write(writes: readonly RtnlWrite[]): Promise<(NetlinkError | KubeRouterError | undefined)[]>;
  /** Dumps, parsed as `ip -j` reads them (route types other than local and blackhole read as unicast). */
  routes(family: Family): Promise<Route[]>;
  links(): Promise<Link[]>;
  addresses(family: Family): Promise<Address[]>;
  rules(family: Family): Promise<RouteRule[]>;
  nexthops(): Promise<Nexthop[]>;
  /** With writes from the worker: it also watches for deletions of our routes (write-sender.ts). */
  readonly watchDeletions: ((w: DeletionWatch) => () => void) | undefined;
  /** Starts the writer thread now (with writes from a worker). */
  warm(): void;
  close(): void;
}

export interface RouteWriterOptions {
  readonly netns?: string;
  /** Interface index by name in the socket's namespace; 0 when there is none. */
  readonly ifindex: (name: string) => number;
  /** Writes sent from this thread, or from a worker thread of their own (write-sender.ts). Default: this thread. */
  readonly writesFrom?: 'thread' | 'worker';
}

export function openRouteWriter(sockets: OpenNetlinkSocket, opts: RouteWriterOptions): RouteWriter {
  const socket: NetlinkSocket = sockets(NETLINK_ROUTE, opts.netns ? { netns: opts.netns } : {});
  const requester = new NetlinkRequester(socket, { maxInFlight: RTNL_WINDOW, replyTimeoutMs: 5000, what: 'rtnetlink' });
  const worker = opts.writesFrom === 'worker' ? new NetlinkWorker(opts.netns ? { netns: opts.netns } : {}) : undefined;
  const sender: WriteSender = worker ?? threadWriteSender(socket);
  return {
    async write(writes) {
      const cache = new Map<string, number>();
      const out: (NetlinkError | KubeRouterError | undefined)[] = new Array<undefined>(writes.length).fill(undefined);
      // Two passes: sizes first, then every message written into one buffer of exactly that size.
      const sized: { readonly i: number; readonly len: number; readonly index: number | undefined; readonly address?: Buffer }[] = [];
      let total = 0;
      writes.forEach((w, i) => {
        const dev = deviceOf(w);
        let index: number | undefined;
        if (dev !== undefined) {
          index = cache.get(dev) ?? opts.ifindex(dev);
          cache.set(dev, index);
          if (index === 0) {
            out[i] = new KubeRouterError(ErrorCode.NotFound, `rtnetlink: no device ${dev}`);
            return;
          }
        }
        // Addresses and nexthops are few: a buffer of their own, copied in.
        const own = 'route' in w ? undefined : 'nexthop' in w || w.op === 'delete-nexthop' ? encodeNexthop(w, index ?? 0, 0, 0) : encodeAddress(w, index ?? 0, 0, 0);
        const len = own ? own.length : writeRoute(undefined, 0, w as RouteWrite, index, 0, 0);
        sized.push({ i, len, index, ...(own ? { address: own } : {}) });
        total += len;
      });
      if (sized.length === 0) return out;
      const data = Buffer.allocUnsafeSlow(total);
      const lengths = new Uint32Array(sized.length);
      let o = 0;
      sized.forEach((m, j) => {
        if (m.address) m.address.copy(data, o);
        else writeRoute(data, o, writes[m.i] as RouteWrite, m.index, 0, 0);
        lengths[j] = m.len;
        o += m.len;
      });
      const results = await sender.send(data, lengths);
      results.forEach((e, j) => {
        const i = sized[j]?.i;
        if (i !== undefined) out[i] = e;
      });
      return out;
    },
    async routes(family) {
      const names = await linkNames();
      const routes = (await requester.dump(dumpRequest(RTM_GETROUTE, family, RTMSG_LEN))).flatMap((r) => (r.type === RTM_NEWROUTE ? parseRoute(r.body, names) : []));
      // With net.ipv4.nexthop_compat_mode=0 a route through a nexthop object carries only its id.
      return routes.some(lacksNexthopDetail) ? withNexthopDetail(routes, await nexthops(names)) : routes;
    },
    nexthops: async () => nexthops(await linkNames()),
    links: async () => parseLinks((await requester.dump(dumpRequest(RTM_GETLINK, 0, IFINFOMSG_LEN))).filter((r) => r.type === RTM_NEWLINK).map((r) => r.body)),
    async addresses(family) {
      const names = await linkNames();
      return (await requester.dump(dumpRequest(RTM_GETADDR, family, IFADDRMSG_LEN))).flatMap((r) => (r.type === RTM_NEWADDR ? parseAddress(r.body, names) : []));
    },
    rules: async (family) => (await requester.dump(dumpRequest(RTM_GETRULE, family, FIB_RULE_HDR_LEN))).flatMap((r) => (r.type === RTM_NEWRULE ? parseRule(r.body, family) : [])),
    watchDeletions: worker ? (w) => worker.watchDeletions(w) : undefined,
    warm: () => worker?.warm(),
    close: () => {
      sender.close();
      socket.close();
    },
  };
  async function nexthops(names: ReadonlyMap<number, string>): Promise<Nexthop[]> {
    return (await requester.dump(dumpRequest(RTM_GETNEXTHOP, 0, NHMSG_LEN))).flatMap((r) => (r.type === RTM_NEWNEXTHOP ? parseNexthop(r.body, names) : []));
  }
  async function linkNames(): Promise<ReadonlyMap<number, string>> {
    const links = parseLinks((await requester.dump(dumpRequest(RTM_GETLINK, 0, IFINFOMSG_LEN))).filter((r) => r.type === RTM_NEWLINK).map((r) => r.body));
    return new Map(links.map((l) => [l.index, l.name]));
  }
}

const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const RTM_GETADDR = 22;
const RTM_GETROUTE = 26;
const RTM_NEWRULE = 32;
const RTM_GETRULE = 34;
const IFINFOMSG_LEN = 16;
const FIB_RULE_HDR_LEN = 12;

/** A dump request: the header of its kind, zeroed but for the family. */
function dumpRequest(type: number, family: Family | 0, headerLen: number): Encode {
  return (seq, flags) => {
    const h = Buffer.alloc(headerLen);
    h.writeUInt8(family === 4 ? 2 : family === 6 ? 10 : 0, 0);
    return rtnlMessage(type, flags, seq, h);
  };
}

function parseRoute(body: Buffer, names: ReadonlyMap<number, string>): Route[] {
  if (body.length < RTMSG_LEN) return [];
  const family: Family = body.readUInt8(0) === 10 ? 6 : 4;
  const dstLen = body.readUInt8(1);
  const a = decodeAttrs(body.subarray(RTMSG_LEN));
  const addr = (t: number): IP | undefined => {
    const v = a.get(t);
    return v && (v.length === 4 || v.length === 16) ? ipFromBytes(v) : undefined;
  };
  const dstIP = addr(RTA_DST) ?? ((family === 4 ? '0.0.0.0' : '::') as IP);
  const rtnType = body.readUInt8(7);
  const oif = read.u32(a, RTA_OIF);
  const dev = oif !== undefined ? names.get(oif) : undefined;
  const gateway = addr(RTA_GATEWAY);
  const src = addr(RTA_PREFSRC);
  const nexthop = read.u32(a, RTA_NH_ID);
  return [
    {
      dst: `${dstIP}/${dstLen}` as CIDR,
      table: read.u32(a, RTA_TABLE) ?? body.readUInt8(4),
      protocol: body.readUInt8(5),
      type: rtnType === RTN.local ? 'local' : rtnType === RTN.blackhole ? 'blackhole' : 'unicast',
      ...(gateway ? { gateway } : {}),
      ...(dev !== undefined ? { dev } : {}),
      ...(src ? { src } : {}),
      ...((body.readUInt32LE(8) & RTNH_F_ONLINK) !== 0 ? { onlink: true } : {}),
      ...(nexthop !== undefined ? { nexthop } : {}),
    },
  ];
}

function parseNexthop(body: Buffer, names: ReadonlyMap<number, string>): Nexthop[] {
  if (body.length < NHMSG_LEN) return [];
  const a = decodeAttrs(body.subarray(NHMSG_LEN));
  const id = read.u32(a, NHA_ID);
  if (id === undefined) return [];
  const gw = a.get(NHA_GATEWAY);
  const oif = read.u32(a, NHA_OIF);
  const dev = oif !== undefined ? names.get(oif) : undefined;
  return [{ id, protocol: body.readUInt8(2), ...(gw && (gw.length === 4 || gw.length === 16) ? { gateway: ipFromBytes(gw) } : {}), ...(dev !== undefined ? { dev } : {}), ...((body.readUInt32LE(4) & RTNH_F_ONLINK) !== 0 ? { onlink: true } : {}) }];
}

const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_MASTER = 10;
const IFLA_LINKINFO = 18;
const IFLA_INFO_KIND = 1;
const IFF_UP = 1;

function parseLinks(bodies: readonly Buffer[]): Link[] {
  const raw = bodies.flatMap((b) => {
    if (b.length < IFINFOMSG_LEN) return [];
    const a = decodeAttrs(b.subarray(IFINFOMSG_LEN));
    const name = read.str(a, IFLA_IFNAME);
    if (name === undefined) return [];
    const info = read.nested(a, IFLA_LINKINFO);
    const kind = info ? read.str(info, IFLA_INFO_KIND) : undefined;
    return [{ name, index: b.readInt32LE(4), mtu: read.u32(a, IFLA_MTU) ?? 0, up: (b.readUInt32LE(8) & IFF_UP) !== 0, kind, masterIndex: read.u32(a, IFLA_MASTER) }];
  });
  const byIndex = new Map(raw.map((l) => [l.index, l.name]));
  return raw.map((l) => {
    const master = l.masterIndex !== undefined ? byIndex.get(l.masterIndex) : undefined;
    return { name: l.name, index: l.index, mtu: l.mtu, up: l.up, ...(l.kind !== undefined ? { kind: l.kind } : {}), ...(master !== undefined ? { master } : {}) };
  });
}

function parseAddress(body: Buffer, names: ReadonlyMap<number, string>): Address[] {
  if (body.length < IFADDRMSG_LEN) return [];
  const a = decodeAttrs(body.subarray(IFADDRMSG_LEN));
  // IPv4 carries the interface's own address in IFA_LOCAL (IFA_ADDRESS is the peer's on point-to-point links).
  const v = a.get(IFA_LOCAL) ?? a.get(IFA_ADDRESS);
  const dev = names.get(body.readUInt32LE(4));
  if (!v || (v.length !== 4 && v.length !== 16) || dev === undefined) return [];
  return [{ dev, ip: ipFromBytes(v), prefix: body.readUInt8(1) }];
}

const FRA_SRC = 2;
const FRA_PRIORITY = 6;
const FRA_FWMARK = 10;
const FRA_TABLE = 15;

function parseRule(body: Buffer, family: Family): RouteRule[] {
  if (body.length < FIB_RULE_HDR_LEN) return [];
  const a = decodeAttrs(body.subarray(FIB_RULE_HDR_LEN));
  const srcLen = body.readUInt8(2);
  const src = a.get(FRA_SRC);
  const fwmark = read.u32(a, FRA_FWMARK);
  const from = src && srcLen > 0 ? tryParseCIDR(`${ipFromBytes(src)}/${srcLen}`) : undefined;
  return [{ family, priority: read.u32(a, FRA_PRIORITY) ?? 0, table: read.u32(a, FRA_TABLE) ?? body.readUInt8(4), ...(from ? { from } : {}), ...(fwmark !== undefined ? { fwmark } : {}) }];
}
