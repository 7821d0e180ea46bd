/**
 * Every kernel object kube-router may own, by name. Cleanup and the "touch nothing else" rule both
 * read from here. Names follow upstream kube-router where the object has the same role, so a host
 * moving from upstream is cleaned up too.
 */
export const OWNED_CHAIN_PREFIXES = ['KUBE-ROUTER-', 'KUBE-POD-FW-', 'KUBE-NWPLCY-'] as const;
export const OWNED_IPSET_PREFIXES = ['kube-router-', 'inet6:kube-router-', 'KUBE-SRC-', 'KUBE-DST-', 'inet6:KUBE-SRC-', 'inet6:KUBE-DST-', 'KRT-', 'inet6:KRT-'] as const;
export const OWNED_NFT_TABLES = [
  { family: 'ip', name: 'kube-router-proxy' },
  { family: 'ip6', name: 'kube-router-proxy' },
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
  return OWNED_IPSET_PREFIXES.some((p) => name.startsWith(p));
}
export function isOwnedLink(link: { readonly name: string; readonly kind?: string }): boolean {
  return (OWNED_LINK_NAMES as readonly string[]).includes(link.name) || isOwnedTunnel(link);
}
