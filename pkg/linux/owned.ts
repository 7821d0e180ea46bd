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
/** Tunnel interfaces: `kr-` plus a hash of the remote node IP (15-char IFNAMSIZ limit). */
export const OWNED_LINK_PREFIXES = ['kr-'] as const;

export function isOwnedChain(name: string): boolean {
  return OWNED_CHAIN_PREFIXES.some((p) => name.startsWith(p));
}
export function isOwnedIpset(name: string): boolean {
  return OWNED_IPSET_PREFIXES.some((p) => name.startsWith(p));
}
export function isOwnedLink(name: string): boolean {
  return (OWNED_LINK_NAMES as readonly string[]).includes(name) || OWNED_LINK_PREFIXES.some((p) => name.startsWith(p));
}
