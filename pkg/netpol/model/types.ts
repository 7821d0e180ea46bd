import type { CIDR } from '../../util/ip.js';

/** This node as the firewall needs it. */
export interface FirewallNode {
  readonly name: string;
  readonly podCIDRs: readonly CIDR[];
}

export interface FirewallOptions {
  readonly defaultDeny: boolean;
  readonly serviceClusterIPRanges: readonly CIDR[];
  /** Whether this iptables has the sctp match; without it SCTP allow rules are left out (SCTP stays denied). */
  readonly sctp: boolean;
}
