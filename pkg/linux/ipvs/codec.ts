/**
 * IPVS generic-netlink messages (pure): attribute and command numbers from linux/ip_vs.h. Addresses go
 * as 16 bytes (union nf_inet_addr, as ipvsadm sends them); ports and the IPv4 persistence netmask are
 * big-endian; flags are a {flags, mask} pair.
 */
import { ErrorCode, KubeRouterError } from '../../util/errors.js';
import { ipFromBytes, ipToBytes, type Family, type IP } from '../../util/ip.js';
import { attr, decodeAttrs, encodeAttrs, read, type Attr, type AttrMap } from '../genl/message.js';
import type { IpvsDestination, IpvsDestinationState, IpvsForward, IpvsProtocol, IpvsServiceFlags, IpvsServiceId, IpvsServiceState, IpvsService, IpvsStats, IpvsTimeouts } from './types.js';

export const IPVS_GENL_NAME = 'IPVS';
export const IPVS_GENL_VERSION = 1;

export const CMD = { NEW_SERVICE: 1, SET_SERVICE: 2, DEL_SERVICE: 3, GET_SERVICE: 4, NEW_DEST: 5, SET_DEST: 6, DEL_DEST: 7, GET_DEST: 8, SET_CONFIG: 12, GET_CONFIG: 13, GET_INFO: 15, ZERO: 16, FLUSH: 17 } as const;
const CMD_ATTR = { SERVICE: 1, DEST: 2, TIMEOUT_TCP: 4, TIMEOUT_TCP_FIN: 5, TIMEOUT_UDP: 6 } as const;
const SVC = { AF: 1, PROTOCOL: 2, ADDR: 3, PORT: 4, FWMARK: 5, SCHED_NAME: 6, FLAGS: 7, TIMEOUT: 8, NETMASK: 9, STATS: 10, PE_NAME: 11, STATS64: 12 } as const;
const DEST = { ADDR: 1, PORT: 2, FWD_METHOD: 3, WEIGHT: 4, U_THRESH: 5, L_THRESH: 6, ACTIVE_CONNS: 7, INACT_CONNS: 8, PERSIST_CONNS: 9, STATS: 10, ADDR_FAMILY: 11, STATS64: 12 } as const;
const STATS = { CONNS: 1, INPKTS: 2, OUTPKTS: 3, INBYTES: 4, OUTBYTES: 5, CPS: 6, INPPS: 7, OUTPPS: 8, INBPS: 9, OUTBPS: 10 } as const;

const AF_INET = 2;
const AF_INET6 = 10;
const PROTO: Readonly<Record<IpvsProtocol, number>> = { tcp: 6, udp: 17, sctp: 132 };
const FWD: Readonly<Record<IpvsForward, number>> = { masq: 0, local: 1, tunnel: 2, route: 3, bypass: 4 };
export const SVC_F = { PERSISTENT: 0x1, HASHED: 0x2, ONEPACKET: 0x4, SCHED1: 0x8, SCHED2: 0x10, SCHED3: 0x20 } as const;
/** The flag bits we set or clear; HASHED is the kernel's own. */
const SETTABLE_FLAGS = SVC_F.PERSISTENT | SVC_F.ONEPACKET | SVC_F.SCHED1 | SVC_F.SCHED2 | SVC_F.SCHED3;

function af(family: Family): number {
  return family === 4 ? AF_INET : AF_INET6;
}

function addr16(ip: IP): Buffer {
  const b = Buffer.alloc(16);
  Buffer.from(ipToBytes(ip)).copy(b);
  return b;
}

export function flagsToBits(f: IpvsServiceFlags): number {
  return (f.persistent ? SVC_F.PERSISTENT : 0) | (f.onePacket ? SVC_F.ONEPACKET : 0) | (f.sched1 ? SVC_F.SCHED1 : 0) | (f.sched2 ? SVC_F.SCHED2 : 0) | (f.sched3 ? SVC_F.SCHED3 : 0);
}

export function bitsToFlags(bits: number): IpvsServiceFlags {
  const f: { -readonly [K in keyof IpvsServiceFlags]: boolean } = {};
  if (bits & SVC_F.PERSISTENT) f.persistent = true;
  if (bits & SVC_F.ONEPACKET) f.onePacket = true;
  if (bits & SVC_F.SCHED1) f.sched1 = true;
  if (bits & SVC_F.SCHED2) f.sched2 = true;
  if (bits & SVC_F.SCHED3) f.sched3 = true;
  return f;
}

/** The attributes that name a service (for deletes and destination ops). */
export function serviceIdAttrs(id: IpvsServiceId): Attr[] {
  if ('fwmark' in id) return [attr.u16(SVC.AF, af(id.family)), attr.u32(SVC.FWMARK, id.fwmark)];
  return [attr.u16(SVC.AF, af(id.family)), attr.u16(SVC.PROTOCOL, PROTO[id.protocol]), attr.bytes(SVC.ADDR, addr16(id.address)), attr.be16(SVC.PORT, id.port)];
}

/** A full service entry, as NEW_SERVICE and SET_SERVICE need it. */
export function serviceAttrs(s: IpvsService): Attr[] {
  const flags = Buffer.alloc(8);
  flags.writeUInt32LE(flagsToBits(s.flags), 0);
  flags.writeUInt32LE(SETTABLE_FLAGS, 4);
  return [
    ...serviceIdAttrs(s.id),
    attr.str(SVC.SCHED_NAME, s.scheduler),
    attr.bytes(SVC.FLAGS, flags),
    attr.u32(SVC.TIMEOUT, s.timeout),
    s.id.family === 4 ? attr.be32(SVC.NETMASK, s.netmask) : attr.u32(SVC.NETMASK, s.netmask),
  ];
}

export function destAttrs(d: IpvsDestination, family: Family): Attr[] {
  return [
    attr.bytes(DEST.ADDR, addr16(d.address)),
    attr.be16(DEST.PORT, d.port),
    attr.u32(DEST.FWD_METHOD, FWD[d.forward]),
    attr.u32(DEST.WEIGHT, d.weight),
    attr.u32(DEST.U_THRESH, d.upperThreshold),
    attr.u32(DEST.L_THRESH, d.lowerThreshold),
    attr.u16(DEST.ADDR_FAMILY, af(family)),
  ];
}

export function destIdAttrs(address: IP, port: number, family: Family): Attr[] {
  return [attr.bytes(DEST.ADDR, addr16(address)), attr.be16(DEST.PORT, port), attr.u16(DEST.ADDR_FAMILY, af(family))];
}

/** The nested service attribute, encoded once (a batch adds many destinations to one service). */
export function serviceIdAttr(id: IpvsServiceId): Attr {
  return { type: CMD_ATTR.SERVICE, value: encodeAttrs(serviceIdAttrs(id)) };
}

export const messages = {
  newService: (s: IpvsService): Attr[] => [attr.nest(CMD_ATTR.SERVICE, serviceAttrs(s))],
  setService: (s: IpvsService): Attr[] => [attr.nest(CMD_ATTR.SERVICE, serviceAttrs(s))],
  delService: (id: IpvsServiceId): Attr[] => [attr.nest(CMD_ATTR.SERVICE, serviceIdAttrs(id))],
  getDests: (id: IpvsServiceId): Attr[] => [attr.nest(CMD_ATTR.SERVICE, serviceIdAttrs(id))],
  dest: (id: IpvsServiceId, d: IpvsDestination, service: Attr = serviceIdAttr(id)): Attr[] => [service, attr.nest(CMD_ATTR.DEST, destAttrs(d, id.family))],
  delDest: (id: IpvsServiceId, address: IP, port: number, service: Attr = serviceIdAttr(id)): Attr[] => [service, attr.nest(CMD_ATTR.DEST, destIdAttrs(address, port, id.family))],
  setConfig: (t: IpvsTimeouts): Attr[] => [attr.u32(CMD_ATTR.TIMEOUT_TCP, t.tcp), attr.u32(CMD_ATTR.TIMEOUT_TCP_FIN, t.tcpFin), attr.u32(CMD_ATTR.TIMEOUT_UDP, t.udp)],
};

function bad(what: string): never {
  throw new KubeRouterError(ErrorCode.ParseError, `IPVS netlink: ${what}`);
}

function familyOfAf(v: number | undefined): Family {
  if (v === AF_INET) return 4;
  if (v === AF_INET6) return 6;
  return bad(`unknown address family ${String(v)}`);
}

function ipOf(b: Buffer | undefined, family: Family): IP {
  if (!b || b.length < (family === 4 ? 4 : 16)) return bad('address missing');
  return ipFromBytes(b.subarray(0, family === 4 ? 4 : 16));
}

function statsOf(m: AttrMap, stats64: number, stats32: number): IpvsStats {
  const s64 = read.nested(m, stats64);
  const s = s64 ?? read.nested(m, stats32);
  const n = (t: number): number => (s ? ((s64 ? read.u64(s, t) : t === STATS.INBYTES || t === STATS.OUTBYTES ? read.u64(s, t) : read.u32(s, t)) ?? 0) : 0);
  return { connections: n(STATS.CONNS), packetsIn: n(STATS.INPKTS), packetsOut: n(STATS.OUTPKTS), bytesIn: n(STATS.INBYTES), bytesOut: n(STATS.OUTBYTES), cps: n(STATS.CPS), ppsIn: n(STATS.INPPS), ppsOut: n(STATS.OUTPPS), bpsIn: n(STATS.INBPS), bpsOut: n(STATS.OUTBPS) };
}

const PROTO_NAMES = new Map<number, IpvsProtocol>(Object.entries(PROTO).map(([k, v]) => [v, k as IpvsProtocol]));
const FWD_NAMES = new Map<number, IpvsForward>(Object.entries(FWD).map(([k, v]) => [v, k as IpvsForward]));

/** One GET_SERVICE reply (its attributes after the genl header). */
export function decodeService(replyAttrs: Buffer): IpvsServiceState {
  const s = read.nested(decodeAttrs(replyAttrs), CMD_ATTR.SERVICE) ?? bad('reply without a service');
  const family = familyOfAf(read.u16(s, SVC.AF));
  const fwmark = read.u32(s, SVC.FWMARK) ?? 0;
  let id: IpvsServiceId;
  if (fwmark !== 0) id = { family, fwmark };
  else {
    const protocol = PROTO_NAMES.get(read.u16(s, SVC.PROTOCOL) ?? -1) ?? bad(`unknown protocol ${String(read.u16(s, SVC.PROTOCOL))}`);
    id = { family, protocol, address: ipOf(s.get(SVC.ADDR), family), port: read.be16(s, SVC.PORT) ?? bad('service without a port') };
  }
  const flags = s.get(SVC.FLAGS);
  return {
    id,
    scheduler: read.str(s, SVC.SCHED_NAME) ?? '',
    flags: bitsToFlags(flags && flags.length >= 4 ? flags.readUInt32LE(0) : 0),
    timeout: read.u32(s, SVC.TIMEOUT) ?? 0,
    netmask: (family === 4 ? read.be32(s, SVC.NETMASK) : read.u32(s, SVC.NETMASK)) ?? 0,
    stats: statsOf(s, SVC.STATS64, SVC.STATS),
  };
}

/** One GET_DEST reply. */
export function decodeDestination(replyAttrs: Buffer, serviceFamily: Family): IpvsDestinationState {
  const d = read.nested(decodeAttrs(replyAttrs), CMD_ATTR.DEST) ?? bad('reply without a destination');
  const afv = read.u16(d, DEST.ADDR_FAMILY);
  const family = afv === undefined ? serviceFamily : familyOfAf(afv);
  return {
    address: ipOf(d.get(DEST.ADDR), family),
    port: read.be16(d, DEST.PORT) ?? 0,
    forward: FWD_NAMES.get((read.u32(d, DEST.FWD_METHOD) ?? 0) & 7) ?? 'masq',
    weight: read.u32(d, DEST.WEIGHT) ?? 0,
    upperThreshold: read.u32(d, DEST.U_THRESH) ?? 0,
    lowerThreshold: read.u32(d, DEST.L_THRESH) ?? 0,
    activeConnections: read.u32(d, DEST.ACTIVE_CONNS) ?? 0,
    inactiveConnections: read.u32(d, DEST.INACT_CONNS) ?? 0,
    persistentConnections: read.u32(d, DEST.PERSIST_CONNS) ?? 0,
    stats: statsOf(d, DEST.STATS64, DEST.STATS),
  };
}

export function decodeTimeouts(replyAttrs: Buffer): IpvsTimeouts {
  const m = decodeAttrs(replyAttrs);
  return { tcp: read.u32(m, CMD_ATTR.TIMEOUT_TCP) ?? 0, tcpFin: read.u32(m, CMD_ATTR.TIMEOUT_TCP_FIN) ?? 0, udp: read.u32(m, CMD_ATTR.TIMEOUT_UDP) ?? 0 };
}
