import type { IpsetSpec } from '../linux/ipset/types.js';
import type { OwnedChainSpec } from '../linux/iptables/owned-chain.js';
import { familyOf, type CIDR, type Family, type IP } from '../util/ip.js';

/** Upstream's set names (a host moving from upstream keeps its sets in our hands). */
export function podSubnetsSet(f: Family): string {
  return f === 4 ? 'kube-router-pod-subnets' : 'inet6:kube-router-pod-subnets';
}
export function nodeIPsSet(f: Family): string {
  return f === 4 ? 'kube-router-node-ips' : 'inet6:kube-router-node-ips';
}
export const EGRESS_CHAIN = 'KUBE-ROUTER-POD-EGRESS';
const JUMP = `-m comment --comment "kube-router pod egress" -j ${EGRESS_CHAIN}`;

/** The chain's one rule in iptables-save form: pod sources to anything that is neither a pod nor a node. */
export function egressRule(f: Family): string {
  return `-m set --match-set ${podSubnetsSet(f)} src -m set ! --match-set ${podSubnetsSet(f)} dst -m set ! --match-set ${nodeIPsSet(f)} dst -j MASQUERADE --random-fully`;
}

/** The two sets for a family, from every node's pod CIDRs and addresses. Pure. */
export function egressSets(f: Family, podCIDRs: readonly CIDR[], nodeIPs: readonly IP[]): IpsetSpec[] {
  return [
    { name: podSubnetsSet(f), type: 'hash:net', family: f, entries: [...new Set(podCIDRs.filter((c) => familyOf(c) === f))].sort() },
    { name: nodeIPsSet(f), type: 'hash:ip', family: f, entries: [...new Set(nodeIPs.filter((ip) => familyOf(ip) === f))].sort() },
  ];
}

/**
 * --enable-pod-egress: pod traffic leaving the pod and node address space is masqueraded (upstream's
 * rule), with sets kept current by temp set + swap and our nat chain with its one rule behind one jump
 * at the top of POSTROUTING.
 */
export function egressChainSpec(f: Family): OwnedChainSpec {
  return { table: 'nat', chains: [{ name: EGRESS_CHAIN, rules: [egressRule(f)] }], jumps: [{ from: 'POSTROUTING', rules: [JUMP], placement: 'top' }] };
}
