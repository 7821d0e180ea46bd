/**
 * `ip route` text with the nexthop-object ids taken out (`198.18.65.0/24 nhid 1263665152 via
 * 198.18.0.12 dev eth0` reads `198.18.65.0/24 via 198.18.0.12 dev eth0`), for checks about where a
 * route goes rather than how the kernel shares its gateway.
 */
export function withoutNexthopIds(text: string): string {
  return text.replace(/ nhid \d+/g, '');
}
