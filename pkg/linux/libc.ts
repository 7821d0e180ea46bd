/**
 * The few libc calls Node does not offer (netlink sockets, network namespaces, TCP MD5), through koffi:
 * a maintained FFI package with prebuilt binaries, no build step. Loaded on first use only.
 */
import { closeSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ErrorCode, KubeRouterError } from '../util/errors.js';

export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  /** The address a socket is bound to, written into `addr`; `len` holds its size (a uint32, in and out). */
  getsockname(fd: number, addr: Buffer, len: Buffer): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  close(fd: number): number;
  setns(fd: number, nstype: number): number;
  /** The index of a network interface in the calling thread's namespace; 0 when there is none. */
  ifNameToIndex(name: string): number;
  /** setsockopt(SO_ATTACH_FILTER) with a classic BPF program (8-byte `struct sock_filter`s). */
  attachFilter(fd: number, program: Buffer): number;
  errno(): number;
}

interface KoffiFn {
  (...args: unknown[]): unknown;
}
interface Koffi {
  load(path: string): { func(signature: string): KoffiFn; func(name: string, result: string, args: readonly unknown[]): KoffiFn };
  struct(fields: Record<string, string>): unknown;
  pointer(type: unknown): unknown;
  errno(): number;
}

const SOL_SOCKET = 1;
const SO_ATTACH_FILTER = 26;

export function loadLibc(): Libc {
  let koffi: Koffi;
  try {
    koffi = createRequire(import.meta.url)('koffi') as Koffi;
  } catch (e) {
    throw new KubeRouterError(ErrorCode.ToolMissing, `netlink sockets and TCP MD5 need the koffi package: ${e instanceof Error ? e.message : String(e)}`);
  }
  const lib = koffi.load('libc.so.6');
  const f = (sig: string): KoffiFn => lib.func(sig);
  const socket = f('int socket(int, int, int)');
  const bind = f('int bind(int, void *, uint32)');
  const getsockname = f('int getsockname(int, _Inout_ void *, _Inout_ void *)');
  const setsockopt = f('int setsockopt(int, int, int, void *, uint32)');
  const send = f('long send(int, void *, size_t, int)');
  const recv = f('long recv(int, _Out_ void *, size_t, int)');
  const close = f('int close(int)');
  const setns = f('int setns(int, int)');
  const ifNameToIndex = f('uint32 if_nametoindex(const char *)');
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; }: koffi lays it out.
  // (anonymous: a named type would be registered again by every loadLibc).
  const fprog = koffi.struct({ len: 'uint16', filter: 'void *' });
  const setsockoptProg = lib.func('setsockopt', 'int', ['int', 'int', 'int', koffi.pointer(fprog), 'uint32']);
  return {
    socket: (d, t, p) => socket(d, t, p) as number,
    bind: (fd, a, l) => bind(fd, a, l) as number,
    getsockname: (fd, a, l) => getsockname(fd, a, l) as number,
    setsockopt: (fd, lv, n, v, l) => setsockopt(fd, lv, n, v, l) as number,
    send: (fd, b, l, fl) => Number(send(fd, b, l, fl)),
    recv: (fd, b, l, fl) => Number(recv(fd, b, l, fl)),
    close: (fd) => close(fd) as number,
    setns: (fd, t) => setns(fd, t) as number,
    ifNameToIndex: (name) => ifNameToIndex(name) as number,
    attachFilter: (fd, program) => setsockoptProg(fd, SOL_SOCKET, SO_ATTACH_FILTER, { len: program.length / 8, filter: program }, 16) as number,
    errno: () => koffi.errno(),
  };
}


const CLONE_NEWNET = 0x40000000;

/**
 * Runs `fn` with this thread in another network namespace (`/run/netns/<name>`), and always comes
 * back: a socket made inside stays in that namespace.
 */
export function inNetns<T>(libc: Libc, netns: string, fn: () => T): T {
  const target = openSync(`/run/netns/${netns}`, 'r');
  const home = openSync('/proc/thread-self/ns/net', 'r');
  try {
    if (libc.setns(target, CLONE_NEWNET) !== 0) throw new KubeRouterError(ErrorCode.ToolFailed, `setns into ${netns} failed: errno ${libc.errno()}`);
    try {
      return fn();
    } finally {
      if (libc.setns(home, CLONE_NEWNET) !== 0) throw new KubeRouterError(ErrorCode.ToolFailed, `setns back to our own namespace failed: errno ${libc.errno()}`);
    }
  } finally {
    closeSync(target);
    closeSync(home);
  }
}
