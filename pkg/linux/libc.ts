/**
 * The few libc calls Node does not offer (netlink sockets, network namespaces, TCP MD5), through koffi:
 * a maintained FFI package with prebuilt binaries, no build step. Loaded on first use only.
 */
import { createRequire } from 'node:module';
import { ErrorCode, KubeRouterError } from '../util/errors.js';

export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  close(fd: number): number;
  setns(fd: number, nstype: number): number;
  errno(): number;
}

interface KoffiFn {
  (...args: unknown[]): unknown;
}
interface Koffi {
  load(path: string): { func(signature: string): KoffiFn };
  errno(): number;
}

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
  const setsockopt = f('int setsockopt(int, int, int, void *, uint32)');
  const send = f('long send(int, void *, size_t, int)');
  const recv = f('long recv(int, _Out_ void *, size_t, int)');
  const close = f('int close(int)');
  const setns = f('int setns(int, int)');
  return {
    socket: (d, t, p) => socket(d, t, p) as number,
    bind: (fd, a, l) => bind(fd, a, l) as number,
    setsockopt: (fd, lv, n, v, l) => setsockopt(fd, lv, n, v, l) as number,
    send: (fd, b, l, fl) => Number(send(fd, b, l, fl)),
    recv: (fd, b, l, fl) => Number(recv(fd, b, l, fl)),
    close: (fd) => close(fd) as number,
    setns: (fd, t) => setns(fd, t) as number,
    errno: () => koffi.errno(),
  };
}

