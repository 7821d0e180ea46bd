import { ruleTarget, splitRuleWords } from './iptables/types.js';
import type { Link } from './netlink/types.js';

/**
 * Every kernel object kube-router may own, by name. Cleanup and the "touch nothing else" rule both
 * read from here. Names follow upstream kube-router where the object has the same role, so a host
 * moving from upstream is cleaned up too.
 */
export const OWNED_CHAIN_PREFIXES = ['KUBE-ROUTER-', 'KUBE-POD-FW-', 'KUBE-NWPLCY-'] as const;
/**
 * Our ipsets by exact name or exact pattern (never a bare prefix: `KRT-anything` is not ours):
 * upstream's fixed names (IPVS, pod egress), our firewall's hashed names, our swap temps, and upstream
 * firewall's hashed names (a host moving from upstream is cleaned up too). IPv6 sets carry `inet6:`.
 */
export const OWNED_IPSET_NAMES = ['kube-router-local-ips', 'kube-router-svip', 'kube-router-svip-prt', 'kube-router-dsr', 'kube-router-pod-subnets', 'kube-router-node-ips', 'KRT-NP-LOCAL-PODS', 'KRT-NP-SVC-VIPS'] as const;
export const OWNED_IPSET_PATTERNS: readonly RegExp[] = [/^KRT-NP[STNLBU]-[A-Z2-7]{16}$/, /^KRT-TMP-[A-Z2-7]{22}$/, /^KUBE-(SRC|DST)-[A-Z2-7]{16}$/];
export const OWNED_NFT_TABLES = [
  { family: 'ip', name: 'kube-router-proxy' },
  { family: 'ip6', name: 'kube-router-proxy' },
  { family: 'ip', name: 'kube-router-netpol' },
  { family: 'ip6', name: 'kube-router-netpol' },
] as const;
export const OWNED_LINK_NAMES = ['kube-bridge', 'kube-dummy-if'] as const;
/** Tunnel interfaces: `kr-` plus 12 base32 characters of a hash of the remote node IP (15-char IFNAMSIZ limit). */
export const OWNED_TUNNEL_NAME = /^kr-[A-Z2-7]{12}$/;
/** The link kinds our tunnels are (VXLAN, IP-in-IP, ip6tnl; FoU is ipip with encapsulation). */
export const OWNED_TUNNEL_KINDS: ReadonlySet<string> = new Set(['vxlan', 'ipip', 'ip6tnl']);

/** A tunnel of ours: exactly our name pattern, and (where the kernel reports it) one of our kinds. */
export function isOwnedTunnel(link: { readonly name: string; readonly kind?: string }): boolean {
  return OWNED_TUNNEL_NAME.test(link.name) && (link.kind === undefined || OWNED_TUNNEL_KINDS.has(link.kind));
}

export function isOwnedChain(name: string): boolean {
  return OWNED_CHAIN_PREFIXES.some((p) => name.startsWith(p));
}
export function isOwnedIpset(name: string): boolean {
  const base = name.startsWith('inet6:') ? name.slice('inet6:'.length) : name;
  return (OWNED_IPSET_NAMES as readonly string[]).includes(base) || OWNED_IPSET_PATTERNS.some((p) => p.test(base));
}
export function isOwnedLink(link: { readonly name: string; readonly kind?: string }): boolean {
  return (OWNED_LINK_NAMES as readonly string[]).includes(link.name) || isOwnedTunnel(link);
}

/*
 * Upstream kube-router's router objects that ours replace (an in-place migration removes them after our
 * first sync; --cleanup-config removes them too).
 */
/** Upstream's route protocol (0x11, "zebra"). */
export const UPSTREAM_RT_PROTO = 17;
/** Upstream's tunnel names: `tun-` and the first 11 hex digits of a hash of the remote address (v1: its digits). */
export const UPSTREAM_TUNNEL_NAME = /^tun-[0-9a-f]{1,11}$/;
const TUNNEL_KINDS: ReadonlySet<string> = new Set(['ipip', 'ip6tnl']);
/** The comments upstream puts on its FORWARD accept rules. */
export const UPSTREAM_FORWARD_COMMENTS: readonly string[] = ['allow outbound traffic from pods', 'allow inbound traffic to pods', 'allow outbound node port traffic on node interface with which node ip is associated'];

export function isUpstreamTunnel(l: Pick<Link, 'name' | 'kind'>): boolean {
  return UPSTREAM_TUNNEL_NAME.test(l.name) && (l.kind === undefined || TUNNEL_KINDS.has(l.kind));
}


export function isUpstreamForwardRule(rule: string): boolean {
  const w = splitRuleWords(rule);
  const i = w.indexOf('--comment');
  return i >= 0 && UPSTREAM_FORWARD_COMMENTS.includes(w[i + 1] ?? '') && ruleTarget(rule) === 'ACCEPT';
}

/** Upstream's pod egress: MASQUERADE of sources in its pod-subnets set, in POSTROUTING itself. */
export function isUpstreamEgressRule(rule: string): boolean {
  const w = splitRuleWords(rule);
  const set = w.findIndex((x, i) => x === '--match-set' && (w[i + 1] === 'kube-router-pod-subnets' || w[i + 1] === 'inet6:kube-router-pod-subnets') && w[i + 2] === 'src' && w[i - 1] !== '!');
  return set >= 0 && ruleTarget(rule) === 'MASQUERADE';
}

