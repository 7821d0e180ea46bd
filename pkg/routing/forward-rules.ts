import type { OwnedChainSpec } from '../linux/iptables/owned-chain.js';

export const FORWARD_CHAIN = 'KUBE-ROUTER-FORWARD-ACCEPT';
const JUMP = `-m comment --comment "kube-router pod forwarding" -j ${FORWARD_CHAIN}`;

/** Pod traffic in and out of the bridge and our tunnels, in iptables-save form. */
export const FORWARD_RULES: readonly string[] = ['-i kube-bridge -j ACCEPT', '-o kube-bridge -j ACCEPT', '-i kr-+ -j ACCEPT', '-o kr-+ -j ACCEPT'];

/**
 * Upstream's FORWARD accept rules, for hosts whose FORWARD policy is DROP (as Docker sets it). Ours are
 * appended behind one jump at the end of FORWARD, so the firewall's jump at the top (and anyone else's
 * rules) still decide first.
 */
export const FORWARD_SPEC: OwnedChainSpec = { table: 'filter', chains: [{ name: FORWARD_CHAIN, rules: FORWARD_RULES }], jumps: [{ from: 'FORWARD', rules: [JUMP], placement: 'append' }] };
