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
  /**
   * Service addresses a local pod reaches through this node's proxy, exempt in INPUT as upstream
   * exempts them: the NodePort range on the node's own addresses, and the externalIPs and
   * LoadBalancer IPs of Services (a set the controller fills from Services). Under IPVS the proxy
   * hands such a packet on from INPUT and it is judged against the endpoint on its way out; refused at
   * the VIP it would never reach one. Absent: only the cluster-IP range is exempt.
   */
  readonly serviceExemptions?: { readonly nodePorts: { readonly min: number; readonly max: number } };
}
