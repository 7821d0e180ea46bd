import { ErrorCode, KubeRouterError } from '../util/errors.js';
import { familyOf, ipToBytes, type IP } from '../util/ip.js';
import { loadLibc, type Libc } from './libc.js';

/**
 * TCP MD5 signatures (RFC 2385) on a socket: Node has no socket option for it, so this calls
 * setsockopt(TCP_MD5SIG) through koffi (pkg/linux/libc.ts). Keys are set
 * on our listening sockets, per peer address, so the kernel signs and checks every segment of the
 * sessions those peers open to us.
 */
export interface TcpMd5 {
  /** Sets (or with `undefined` removes) the key for one peer on a socket. */
  setKey(fd: number, peer: IP, key: Uint8Array | undefined): void;
}

const IPPROTO_TCP = 6;
const TCP_MD5SIG = 14;
const AF_INET = 2;
const AF_INET6 = 10;
/** TCP_MD5SIG_MAXKEYLEN: keys are bytes, at most this many. */
export const MAXKEYLEN = 80;
/** struct tcp_md5sig: sockaddr_storage (128), flags (1), prefixlen (1), keylen (2), ifindex (4), key (80). */
const STRUCT_LEN = 216;

/** The option value for one peer and key (pure; exported for its byte-layout test). */
export function md5sigStruct(peer: IP, key: Uint8Array | undefined): Buffer {
  const buf = Buffer.alloc(STRUCT_LEN);
  const addr = ipToBytes(peer);
  if (familyOf(peer) === 4) {
    buf.writeUInt16LE(AF_INET, 0); // sa_family in host order (little-endian on the machines we run on)
    Buffer.from(addr).copy(buf, 4);
  } else {
    buf.writeUInt16LE(AF_INET6, 0);
    Buffer.from(addr).copy(buf, 8);
  }
  const k = Buffer.from(key ?? new Uint8Array(0));
  if (k.length > MAXKEYLEN) throw new KubeRouterError(ErrorCode.Invalid, `a TCP MD5 key is at most ${MAXKEYLEN} bytes`);
  buf.writeUInt16LE(k.length, 130);
  k.copy(buf, 136);
  return buf;
}

export function realTcpMd5(): TcpMd5 {
  let libc: Libc | undefined;
  return {
    setKey(fd, peer, key) {
      libc ??= loadLibc();
      const r = libc.setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, md5sigStruct(peer, key), STRUCT_LEN);
      if (r !== 0 && key !== undefined) throw new KubeRouterError(ErrorCode.Unsupported, `setsockopt(TCP_MD5SIG) for ${peer} failed`);
    },
  };
}

/** Records keys per socket and peer, for tests. */
export class FakeTcpMd5 implements TcpMd5 {
  readonly keys = new Map<string, Uint8Array>();
  setKey(fd: number, peer: IP, key: Uint8Array | undefined): void {
    if (key === undefined) this.keys.delete(`${fd} ${peer}`);
    else this.keys.set(`${fd} ${peer}`, key);
  }
}
