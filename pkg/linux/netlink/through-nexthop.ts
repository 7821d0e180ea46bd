import type { Nexthop, Route } from './types.js';

/** Whether a route read back names its nexthop object alone (`net.ipv4.nexthop_compat_mode=0`). */
export function lacksNexthopDetail(r: Route): boolean {
  return r.nexthop !== undefined && r.gateway === undefined && r.dev === undefined;
}

/** Routes read back with their nexthop object's gateway and device filled in where the kernel gave the id alone. */
export function withNexthopDetail(routes: readonly Route[], nexthops: readonly Nexthop[]): Route[] {
  const byId = new Map(nexthops.map((n) => [n.id, n]));
  return routes.map((r) => {
    const n = lacksNexthopDetail(r) && r.nexthop !== undefined ? byId.get(r.nexthop) : undefined;
    return n ? { ...r, ...(n.gateway ? { gateway: n.gateway } : {}), ...(n.dev !== undefined ? { dev: n.dev } : {}), ...(n.onlink ? { onlink: true } : {}) } : r;
  });
}
