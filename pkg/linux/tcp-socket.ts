/**
 * TCP sockets with the options BGP needs set before the first segment: the TTL our segments carry
 * (eBGP's 1, or the multihop TTL), and the TCP MD5 key of the peer (RFC 2385), so that our SYN is
 * already signed. Node creates its sockets inside `connect`, too late for either; these are made
 * through libc (pkg/linux/libc.ts) and handed to Node as a file descriptor, which Node then connects.
 */
import { ErrorCode, KubeRouterError } from '../util/errors.js';
import { familyOf, type Family, type IP } from '../util/ip.js';
import { loadLibc, type Libc } from './libc.js';
import type { TcpMd5 } from './tcp-md5.js';

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0x80000;
const IPPROTO_IP = 0;
const IPPROTO_IPV6 = 41;
const IP_TTL = 2;
const IPV6_UNICAST_HOPS = 16;

export interface TcpSocketOptions {
  readonly ttl?: number;
  readonly md5?: { readonly peer: IP; readonly key: Uint8Array };
}

export interface TcpSockets {
  /** A new, unconnected TCP socket of `family` with the options set; its file descriptor. */
  create(family: Family, opts: TcpSocketOptions): number;
  /** The TTL (hop limit) of segments sent on an existing socket (an accepted one). */
  setTtl(fd: number, family: Family, ttl: number): void;
}

function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}

export function realTcpSockets(md5: TcpMd5): TcpSockets {
  let libc: Libc | undefined;
  const setTtl = (fd: number, family: Family, ttl: number): void => {
    libc ??= loadLibc();
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) throw new KubeRouterError(ErrorCode.Invalid, `TTL ${ttl} is not in 1-255`);
    const r = family === 4 ? libc.setsockopt(fd, IPPROTO_IP, IP_TTL, int32(ttl), 4) : libc.setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, int32(ttl), 4);
    if (r !== 0) throw new KubeRouterError(ErrorCode.ToolFailed, `setsockopt(TTL ${ttl}) failed: errno ${libc.errno()}`);
  };
  return {
    create(family, opts) {
      libc ??= loadLibc();
      const fd = libc.socket(family === 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) throw new KubeRouterError(ErrorCode.ToolFailed, `socket() failed: errno ${libc.errno()}`);
      try {
        if (opts.ttl !== undefined) setTtl(fd, family, opts.ttl);
        if (opts.md5) {
          if (familyOf(opts.md5.peer) !== family) throw new KubeRouterError(ErrorCode.Invalid, `MD5 peer ${opts.md5.peer} is not IPv${family}`);
          md5.setKey(fd, opts.md5.peer, opts.md5.key);
        }
      } catch (e) {
        libc.close(fd);
        throw e;
      }
      return fd;
    },
    setTtl,
  };
}
