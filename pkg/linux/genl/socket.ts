/**
 * A raw netlink socket. Node has no AF_NETLINK, so the few libc calls go through koffi (the FFI package
 * we already use for TCP MD5: prebuilt binaries, no build step). Every call is non-blocking: the
 * kernel answers a netlink request while it handles the send, so replies are already queued when
 * `send` returns; `receive` never waits. Failures are typed errors carrying errno; nothing here can
 * abort the process.
 */
import { ErrorCode, KubeRouterError } from '../../util/errors.js';
import { inNetns, loadLibc, type Libc } from '../libc.js';

export interface NetlinkSocket {
  send(buf: Buffer): void;
  /** One queued datagram, or undefined when none is queued. */
  receive(): Buffer | undefined;
  close(): void;
  /**
   * The port id the kernel gave this socket (its `nl_pid`): notifications caused by our own requests
   * carry it. Undefined where it cannot be read.
   */
  portId?(): number | undefined;
}

export interface NetlinkSocketOptions {
  /** A named network namespace (`/run/netns/<name>`); default: the process's own. */
  readonly netns?: string;
  /** Receive buffer, bytes (SO_RCVBUFFORCE, then SO_RCVBUF). */
  readonly receiveBuffer?: number;
  /** Multicast groups to join (NETLINK_ADD_MEMBERSHIP), e.g. RTNLGRP_IPV4_ROUTE. */
  readonly groups?: readonly number[];
  /** A classic BPF program (SO_ATTACH_FILTER): the kernel drops what it refuses before it is queued. */
  readonly filter?: Buffer;
}

export type OpenNetlinkSocket = (protocol: number, opts?: NetlinkSocketOptions) => NetlinkSocket;

/** An errno from a libc call, as a typed error. */
export class NetlinkError extends KubeRouterError {
  constructor(
    readonly errno: number,
    readonly what: string,
    readonly kernelMessage?: string,
  ) {
    super(errnoCode(errno), `${what}: ${errnoName(errno)}${kernelMessage ? ` (${kernelMessage})` : ''}`, { errno });
  }
}

const ERRNO_NAMES: Readonly<Record<number, string>> = { 1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES', 16: 'EBUSY', 17: 'EEXIST', 19: 'ENODEV', 22: 'EINVAL', 28: 'ENOSPC', 93: 'EPROTONOSUPPORT', 95: 'EOPNOTSUPP', 97: 'EAFNOSUPPORT', 105: 'ENOBUFS' };
export const ENOENT = 2;
export const ESRCH = 3;
export const EAGAIN = 11;
export const EEXIST = 17;
export const ENODEV = 19;
export const ENOBUFS = 105;

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

function errnoCode(errno: number): ErrorCode {
  if (errno === EEXIST) return ErrorCode.AlreadyExists;
  if (errno === ENOENT || errno === ESRCH) return ErrorCode.NotFound;
  if (errno === 93 || errno === 95 || errno === 97 || errno === 19) return ErrorCode.Unsupported;
  return ErrorCode.ToolFailed;
}

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_SNDBUF = 7;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
const SOL_NETLINK = 270;
const NETLINK_ADD_MEMBERSHIP = 1;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const MSG_DONTWAIT = 0x40;
const MSG_TRUNC = 0x20;
/** Larger than any one datagram the kernel sends (dumps fill at most 32 KiB per skb). */
const RECV_CHUNK = 256 * 1024;

function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}

/** The real socket factory. libc is loaded on first use, so merely importing this costs nothing. */
export function realNetlinkSockets(): OpenNetlinkSocket {
  let libc: Libc | undefined;
  return (protocol, opts = {}) => {
    libc ??= loadLibc();
    const c = libc;
    const make = (): number => {
      const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
      if (fd < 0) throw new NetlinkError(c.errno(), `socket(AF_NETLINK, ${protocol})`);
      return fd;
    };
    const fd = opts.netns ? inNetns(c, opts.netns, make) : make();
    try {
      const sa = Buffer.alloc(12);
      sa.writeUInt16LE(AF_NETLINK, 0);
      if (c.bind(fd, sa, sa.length) !== 0) throw new NetlinkError(c.errno(), 'bind(AF_NETLINK)');
      const rcv = int32(opts.receiveBuffer ?? 4 << 20);
      if (c.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, rcv, 4) !== 0) c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, rcv, 4);
      c.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, int32(1 << 20), 4);
      // Errors without our request echoed back, but with the kernel's reason text (best effort).
      c.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, int32(1), 4);
      c.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, int32(1), 4);
      for (const g of opts.groups ?? []) if (c.setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, int32(g), 4) !== 0) throw new NetlinkError(c.errno(), `netlink group ${g}`);
      if (opts.filter && c.attachFilter(fd, opts.filter) !== 0) throw new NetlinkError(c.errno(), 'netlink socket filter');
    } catch (e) {
      c.close(fd);
      throw e;
    }
    const chunk = Buffer.alloc(RECV_CHUNK);
    let open = true;
    return {
      send(buf) {
        if (!open) throw new KubeRouterError(ErrorCode.Invalid, 'netlink socket is closed');
        const n = c.send(fd, buf, buf.length, 0);
        if (n < 0) throw new NetlinkError(c.errno(), 'netlink send');
      },
      receive() {
        if (!open) throw new KubeRouterError(ErrorCode.Invalid, 'netlink socket is closed');
        const n = c.recv(fd, chunk, chunk.length, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0) {
          const errno = c.errno();
          if (errno === EAGAIN) return undefined;
          throw new NetlinkError(errno, 'netlink receive');
        }
        if (n > chunk.length) throw new KubeRouterError(ErrorCode.ParseError, `netlink datagram of ${n} bytes exceeds our ${chunk.length}-byte buffer`);
        return Buffer.from(chunk.subarray(0, n));
      },
      close() {
        if (open) c.close(fd);
        open = false;
      },
      portId() {
        // struct sockaddr_nl { sa_family_t nl_family; unsigned short nl_pad; __u32 nl_pid; __u32 nl_groups; }
        const sa = Buffer.alloc(12);
        const len = Buffer.alloc(4);
        len.writeUInt32LE(sa.length, 0);
        return open && c.getsockname(fd, sa, len) === 0 ? sa.readUInt32LE(4) : undefined;
      },
    };
  };
}
