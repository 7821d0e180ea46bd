/**
 * BFD over the kernel's UDP. Sockets are made through libc so that they carry their options before
 * Node owns them: TTL 255 on every socket we send from, and on single-hop receiving sockets a socket
 * filter that drops, in the kernel, any datagram whose TTL (hop limit) is not 255 (RFC 5881 5; Linux
 * has no IP_MINTTL for UDP). Node then reads and writes them as dgram sockets.
 */
import { createSocket, type Socket } from 'node:dgram';
import { ErrorCode, KubeRouterError } from '../util/errors.js';
import { familyOf, ipToBytes, tryParseIP, type Family, type IP } from '../util/ip.js';
import type { Logger } from '../util/logger.js';
import { inNetns, loadLibc, type Libc } from '../linux/libc.js';
import type { BfdPath, BfdReceiver, BfdTransport } from './transport.js';
import { bpfProgram, type BpfInsn } from '../linux/bpf.js';

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0x800;
const SOCK_CLOEXEC = 0x80000;
const IPPROTO_IP = 0;
const IPPROTO_IPV6 = 41;
const IP_TTL = 2;
const IPV6_UNICAST_HOPS = 16;
const IPV6_V6ONLY = 26;
const EADDRINUSE = 98;
/** RFC 5881 4: source ports 49152-65535. */
const SOURCE_PORT_MIN = 49152;
const SOURCE_PORTS = 65536 - SOURCE_PORT_MIN;

/** Classic BPF: accept a datagram only when the IP header's TTL / hop limit byte is 255. */
export function ttl255Filter(family: Family): Buffer {
  const SKF_NET_OFF = 0x100000000 - 0x100000;
  const insns: readonly BpfInsn[] = [
    [0x30, 0, 0, SKF_NET_OFF + (family === 4 ? 8 : 7)], // ldb [net + ttl offset]
    [0x15, 0, 1, 255], // jeq #255, accept, drop
    [0x06, 0, 0, 0xffffffff], // ret all
    [0x06, 0, 0, 0], // ret 0
  ];
  return bpfProgram(insns);
}

function sockaddr(ip: IP | undefined, family: Family, port: number): Buffer {
  const b = Buffer.alloc(family === 4 ? 16 : 28);
  b.writeUInt16LE(family === 4 ? AF_INET : AF_INET6, 0);
  b.writeUInt16BE(port, 2);
  if (ip) Buffer.from(ipToBytes(ip)).copy(b, family === 4 ? 4 : 8);
  return b;
}

interface Receiver {
  readonly socket: Socket;
  readonly hop: BfdPath['hop'];
  users: number;
}

export interface UdpBfdOptions {
  readonly logger: Logger;
  /** Sockets in this named network namespace (tests); default: the process's own. */
  readonly netns?: string;
  readonly rand?: () => number;
}

export function udpBfdTransport(opts: UdpBfdOptions): BfdTransport {
  const { logger } = opts;
  const rand = opts.rand ?? Math.random;
  let libc: Libc | undefined;
  const receivers = new Map<string, Receiver>();
  const handlers = new Map<string, Set<BfdReceiver>>();
  const senders = new Set<Socket>();

  const sock = (family: Family): number => {
    const c = (libc ??= loadLibc());
    const make = (): number => c.socket(family === 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const fd = opts.netns ? inNetns(c, opts.netns, make) : make();
    if (fd < 0) throw new KubeRouterError(ErrorCode.ToolFailed, `BFD: socket() failed: errno ${libc.errno()}`);
    return fd;
  };
  const opt = (fd: number, level: number, name: number, v: number): void => {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    if (libc?.setsockopt(fd, level, name, b, 4) !== 0) throw new KubeRouterError(ErrorCode.ToolFailed, `BFD: setsockopt(${level}, ${name}) failed: errno ${libc?.errno() ?? 0}`);
  };
  const wrap = (fd: number, family: Family): Socket => {
    const s = createSocket({ type: family === 4 ? 'udp4' : 'udp6' });
    s.on('error', (e) => logger.warn('BFD socket error', { error: e.message }));
    s.bind({ fd });
    return s;
  };
  const closeFd = (fd: number): void => {
    libc?.close(fd);
  };

  const receiverFor = (path: BfdPath, family: Family): Receiver => {
    const key = `${family}|${path.port}`;
    const have = receivers.get(key);
    if (have) {
      if (have.hop !== path.hop) throw new KubeRouterError(ErrorCode.Invalid, `BFD port ${path.port} already serves ${have.hop}-hop sessions`);
      have.users++;
      return have;
    }
    const fd = sock(family);
    try {
      if (family === 6) opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
      if (path.hop === 'single' && libc?.attachFilter(fd, ttl255Filter(family)) !== 0) throw new KubeRouterError(ErrorCode.ToolFailed, `BFD: attaching the TTL filter failed: errno ${libc?.errno() ?? 0}`);
      const addr = sockaddr(undefined, family, path.port);
      if (libc?.bind(fd, addr, addr.length) !== 0) throw new KubeRouterError(ErrorCode.ToolFailed, `BFD: cannot listen on UDP port ${path.port}: errno ${libc?.errno() ?? 0}`);
    } catch (e) {
      closeFd(fd);
      throw e;
    }
    const socket = wrap(fd, family);
    socket.on('message', (data, rinfo) => {
      const from = tryParseIP(rinfo.address.replace(/^::ffff:/, ''));
      if (!from) return;
      for (const h of handlers.get(key) ?? []) h(data, from, path.port);
    });
    const r: Receiver = { socket, hop: path.hop, users: 1 };
    receivers.set(key, r);
    return r;
  };

  const sender = (path: BfdPath, family: Family): Socket => {
    const fd = sock(family);
    try {
      opt(fd, family === 4 ? IPPROTO_IP : IPPROTO_IPV6, family === 4 ? IP_TTL : IPV6_UNICAST_HOPS, 255);
      // A source port of the range, the next free one from a random start.
      const start = Math.floor(rand() * SOURCE_PORTS);
      for (let i = 0; ; i++) {
        if (i >= 256) throw new KubeRouterError(ErrorCode.ToolFailed, `BFD: no free source port on ${path.local}`);
        const port = SOURCE_PORT_MIN + ((start + i) % SOURCE_PORTS);
        const addr = sockaddr(path.local, family, port);
        if (libc?.bind(fd, addr, addr.length) === 0) break;
        const err = libc?.errno() ?? 0;
        if (err !== EADDRINUSE) throw new KubeRouterError(ErrorCode.Invalid, `BFD: cannot send from ${path.local}: errno ${err}`);
      }
    } catch (e) {
      closeFd(fd);
      throw e;
    }
    return wrap(fd, family);
  };

  return {
    open(path, receive) {
      const family = familyOf(path.remote);
      if (familyOf(path.local) !== family) throw new KubeRouterError(ErrorCode.Invalid, `BFD: local ${path.local} and remote ${path.remote} are of different families`);
      const key = `${family}|${path.port}`;
      const out = sender(path, family);
      let rx: Receiver;
      try {
        rx = receiverFor(path, family);
      } catch (e) {
        out.close();
        throw e;
      }
      const set = handlers.get(key) ?? new Set<BfdReceiver>();
      set.add(receive);
      handlers.set(key, set);
      senders.add(out);
      let open = true;
      return {
        send(packet) {
          if (open) out.send(packet, path.port, path.remote);
        },
        close() {
          if (!open) return;
          open = false;
          senders.delete(out);
          out.close();
          set.delete(receive);
          if (--rx.users === 0) {
            rx.socket.close();
            receivers.delete(key);
            handlers.delete(key);
          }
        },
      };
    },
    close() {
      for (const s of senders) s.close();
      senders.clear();
      for (const r of receivers.values()) r.socket.close();
      receivers.clear();
      handlers.clear();
    },
  };
}
