/**
 * Deletions of our routes, as the kernel announces them (RTM_DELROUTE on the IPv4 and IPv6 route
 * groups), on a netlink socket the netlink worker polls (write-worker.ts). A classic BPF filter on the
 * socket keeps everything but deletions of routes of our protocol out, in the kernel: a table of
 * 100,000 routes being installed queues nothing (the `ip monitor` this replaces printed every one of
 * them, and cost the install a fifth of its time).
 */
import { endianness } from 'node:os';
import { bpfProgram, type BpfInsn } from '../bpf.js';

const RTM_DELROUTE = 25;
/** rtmsg.rtm_protocol: after the 16-byte nlmsghdr, the sixth byte of the rtmsg. */
const PROTOCOL_OFFSET = 16 + 5;
export const RTNLGRP_IPV4_ROUTE = 7;
export const RTNLGRP_IPV6_ROUTE = 11;

/** nlmsghdr.nlmsg_pid: the port id of the socket whose request caused the change (0: the kernel's own). */
const PID_OFFSET = 12;

/**
 * Accepts a notification only when it is an RTM_DELROUTE of `protocol` (nlmsg_type is in host byte
 * order) and, with `ownPort`, not caused by a request of that socket (our own writes: their deletions
 * are what we meant).
 */
export function routeDeletionFilter(protocol: number, order: 'LE' | 'BE' = endianness(), ownPort?: number): Buffer {
  const [low, high] = order === 'LE' ? [4, 5] : [5, 4];
  // A 32-bit load (ld [k]) reads big-endian; nlmsg_pid is in host order.
  const pid = Buffer.alloc(4);
  if (order === 'LE') pid.writeUInt32LE((ownPort ?? 0) >>> 0, 0);
  else pid.writeUInt32BE((ownPort ?? 0) >>> 0, 0);
  const pidAsLoaded = pid.readUInt32BE(0);
  const own: readonly BpfInsn[] =
    ownPort === undefined
      ? []
      : [
          [0x20, 0, 0, PID_OFFSET], // ld [nlmsg_pid]
          [0x15, 1, 0, pidAsLoaded], // jeq #ours, drop, next
        ];
  const insns: readonly BpfInsn[] = [
    [0x30, 0, 0, low], // ldb [type, low byte]
    [0x15, 0, 5 + own.length, RTM_DELROUTE], // jeq #RTM_DELROUTE, next, drop
    [0x30, 0, 0, high], // ldb [type, high byte]
    [0x15, 0, 3 + own.length, 0], // jeq #0, next, drop
    [0x30, 0, 0, PROTOCOL_OFFSET], // ldb [rtm_protocol]
    [0x15, 0, 1 + own.length, protocol], // jeq #protocol, next, drop
    ...own,
    [0x06, 0, 0, 0xffffffff], // accept: ret all
    [0x06, 0, 0, 0], // drop: ret 0
  ];
  return bpfProgram(insns);
}
