/**
 * Netlink and generic-netlink wire format (pure). Host byte order is little-endian on every machine we
 * run on (x86_64, arm64); netlink headers and most attributes are in host order, a few IPVS ones
 * (ports, IPv4 netmask) are big-endian and say so at their call site.
 */
import { ErrorCode, KubeRouterError } from '../../util/errors.js';

export const NLMSG_HDRLEN = 16;
export const GENL_HDRLEN = 4;
export const NLA_HDRLEN = 4;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

/** NLMSGERR_ATTR_MSG in an extended ack: the kernel's reason text. */
const NLMSGERR_ATTR_MSG = 1;
const NLM_F_ACK_TLVS = 0x200;
const NLM_F_CAPPED = 0x100;

export const NLA_TYPE_MASK = 0x3fff;

export function align4(n: number): number {
  return (n + 3) & ~3;
}

/** One attribute to encode: a payload, or nested attributes. */
export type Attr = { readonly type: number; readonly value: Buffer } | { readonly type: number; readonly nested: readonly Attr[] };

export const attr = {
  u8: (type: number, v: number): Attr => ({ type, value: Buffer.from([v & 0xff]) }),
  u16: (type: number, v: number): Attr => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    return { type, value: b };
  },
  /** A 16-bit value in network order (ports). */
  be16: (type: number, v: number): Attr => {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    return { type, value: b };
  },
  u32: (type: number, v: number): Attr => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return { type, value: b };
  },
  be32: (type: number, v: number): Attr => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    return { type, value: b };
  },
  /** A NUL-terminated string. */
  str: (type: number, v: string): Attr => ({ type, value: Buffer.concat([Buffer.from(v, 'utf8'), Buffer.from([0])]) }),
  bytes: (type: number, v: Uint8Array): Attr => ({ type, value: Buffer.from(v) }),
  nest: (type: number, nested: readonly Attr[]): Attr => ({ type, nested }),
};

function attrLength(a: Attr): number {
  return NLA_HDRLEN + ('nested' in a ? a.nested.reduce((n, x) => n + align4(attrLength(x)), 0) : a.value.length);
}

function writeAttrs(attrs: readonly Attr[], buf: Buffer, offset: number): number {
  let o = offset;
  for (const a of attrs) {
    const len = attrLength(a);
    buf.writeUInt16LE(len, o);
    buf.writeUInt16LE(a.type, o + 2);
    if ('nested' in a) writeAttrs(a.nested, buf, o + NLA_HDRLEN);
    else a.value.copy(buf, o + NLA_HDRLEN);
    o += align4(len);
  }
  return o;
}

export function encodeAttrs(attrs: readonly Attr[]): Buffer {
  const buf = Buffer.alloc(attrs.reduce((n, a) => n + align4(attrLength(a)), 0));
  writeAttrs(attrs, buf, 0);
  return buf;
}

export interface GenlRequest {
  readonly family: number;
  readonly cmd: number;
  readonly version: number;
  readonly flags: number;
  readonly seq: number;
  readonly attrs: readonly Attr[];
}

/** nlmsghdr + genlmsghdr + attributes. */
export function encodeGenl(r: GenlRequest): Buffer {
  // One buffer for headers and attributes (no intermediate body buffer: this runs once per request).
  let bodyLen = 0;
  for (const a of r.attrs) bodyLen += align4(attrLength(a));
  const len = NLMSG_HDRLEN + GENL_HDRLEN + bodyLen;
  const buf = Buffer.alloc(len);
  buf.writeUInt32LE(len, 0);
  buf.writeUInt16LE(r.family, 4);
  buf.writeUInt16LE(r.flags, 6);
  buf.writeUInt32LE(r.seq >>> 0, 8);
  buf.writeUInt32LE(0, 12);
  buf.writeUInt8(r.cmd, 16);
  buf.writeUInt8(r.version, 17);
  writeAttrs(r.attrs, buf, NLMSG_HDRLEN + GENL_HDRLEN);
  return buf;
}

/** Decoded attributes by type (the last one wins for repeated types, as the kernel's nla_parse). */
export type AttrMap = ReadonlyMap<number, Buffer>;

export function decodeAttrs(buf: Buffer): AttrMap {
  const out = new Map<number, Buffer>();
  let o = 0;
  while (o + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(o);
    if (len < NLA_HDRLEN || o + len > buf.length) throw new KubeRouterError(ErrorCode.ParseError, `netlink attribute with bad length ${len} at ${o}`);
    out.set(buf.readUInt16LE(o + 2) & NLA_TYPE_MASK, buf.subarray(o + NLA_HDRLEN, o + len));
    o += align4(len);
  }
  return out;
}

export const read = {
  u8: (m: AttrMap, t: number): number | undefined => (m.get(t)?.length ?? 0) >= 1 ? (m.get(t) as Buffer).readUInt8(0) : undefined,
  u16: (m: AttrMap, t: number): number | undefined => (m.get(t)?.length ?? 0) >= 2 ? (m.get(t) as Buffer).readUInt16LE(0) : undefined,
  be16: (m: AttrMap, t: number): number | undefined => (m.get(t)?.length ?? 0) >= 2 ? (m.get(t) as Buffer).readUInt16BE(0) : undefined,
  u32: (m: AttrMap, t: number): number | undefined => (m.get(t)?.length ?? 0) >= 4 ? (m.get(t) as Buffer).readUInt32LE(0) : undefined,
  be32: (m: AttrMap, t: number): number | undefined => (m.get(t)?.length ?? 0) >= 4 ? (m.get(t) as Buffer).readUInt32BE(0) : undefined,
  /** u64 as a number (counters; exact below 2^53). */
  u64: (m: AttrMap, t: number): number | undefined => (m.get(t)?.length ?? 0) >= 8 ? Number((m.get(t) as Buffer).readBigUInt64LE(0)) : undefined,
  str: (m: AttrMap, t: number): string | undefined => {
    const b = m.get(t);
    if (!b) return undefined;
    const nul = b.indexOf(0);
    return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
  },
  nested: (m: AttrMap, t: number): AttrMap | undefined => {
    const b = m.get(t);
    return b ? decodeAttrs(b) : undefined;
  },
};

/** One message out of a receive buffer. */
export type NlMessage =
  /** `cmd` and `attrs` read the body as generic netlink; `body` is the whole payload (rtnetlink's header and attributes). */
  | { readonly kind: 'data'; readonly type: number; readonly flags: number; readonly seq: number; readonly cmd: number; readonly attrs: Buffer; readonly body: Buffer }
  | { readonly kind: 'done'; readonly seq: number }
  /** errno 0 is an ACK; otherwise the request failed, with the kernel's extended-ack text if any. */
  | { readonly kind: 'error'; readonly seq: number; readonly errno: number; readonly message?: string }
  | { readonly kind: 'other'; readonly type: number; readonly seq: number };

export function decodeMessages(buf: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  let o = 0;
  while (o + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(o);
    if (len < NLMSG_HDRLEN || o + len > buf.length) throw new KubeRouterError(ErrorCode.ParseError, `netlink message with bad length ${len} at ${o}`);
    const type = buf.readUInt16LE(o + 4);
    const flags = buf.readUInt16LE(o + 6);
    const seq = buf.readUInt32LE(o + 8);
    const body = buf.subarray(o + NLMSG_HDRLEN, o + len);
    if (type === NLMSG_DONE) out.push({ kind: 'done', seq });
    else if (type === NLMSG_ERROR) {
      const errno = body.length >= 4 ? -body.readInt32LE(0) : 0;
      let message: string | undefined;
      if (flags & NLM_F_ACK_TLVS && body.length >= 4 + NLMSG_HDRLEN) {
        // The echoed request header (and, unless capped, its payload) precedes the ack TLVs.
        const echoedLen = flags & NLM_F_CAPPED ? NLMSG_HDRLEN : body.readUInt32LE(4);
        const tlvs = body.subarray(4 + align4(echoedLen));
        try {
          message = read.str(decodeAttrs(tlvs), NLMSGERR_ATTR_MSG);
        } catch {
          message = undefined;
        }
      }
      out.push({ kind: 'error', seq, errno, ...(message ? { message } : {}) });
    } else if (type === NLMSG_NOOP || type === NLMSG_OVERRUN || type < 0x10) out.push({ kind: 'other', type, seq });
    else out.push({ kind: 'data', type, flags, seq, cmd: body.length >= GENL_HDRLEN ? body.readUInt8(0) : 0, attrs: body.subarray(GENL_HDRLEN), body });
    o += align4(len);
  }
  return out;
}
