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

/** Accepts a notification only when it is an RTM_DELROUTE of `protocol` (nlmsg_type is in host byte order). */
export function routeDeletionFilter(protocol: number, order: 'LE' | 'BE' = endianness()): Buffer {
  const [low, high] = order === 'LE' ? [4, 5] : [5, 4];
  const insns: readonly BpfInsn[] = [
    [0x30, 0, 0, low], // ldb [type, low byte]
    [0x15, 0, 5, RTM_DELROUTE], // jeq #RTM_DELROUTE, next, drop
    [0x30, 0, 0, high], // ldb [type, high byte]
    [0x15, 0, 3, 0], // jeq #0, next, drop
    [0x30, 0, 0, PROTOCOL_OFFSET], // ldb [rtm_protocol]
    [0x15, 0, 1, protocol], // jeq #protocol, accept, drop
    [0x06, 0, 0, 0xffffffff], // accept: ret all
    [0x06, 0, 0, 0], // drop: ret 0
  ];
  return bpfProgram(insns);
}
