import { isOwnedNexthop, KUBE_ROUTER_RT_PROTO, OWNED_NEXTHOP_IDS, type GatewayNexthop, type Nexthop, type Route } from '../linux/netlink/types.js';
import type { IP } from '../util/ip.js';

/** A gateway that learned routes share, and the device it is reached on. */
export interface NexthopWant {
  readonly gateway: IP;
  readonly dev: string;
}

/** Our nexthop objects after a sync: which id each gateway has, what to write, what to delete. */
export interface NexthopPlan {
  /** Gateway → the id of our object for it. A gateway without one (our id range full) keeps plain `via` routes. */
  readonly ids: ReadonlyMap<string, number>;
  readonly replace: readonly GatewayNexthop[];
  /** Ours that no route wants any more; the kernel takes any route still through them along. */
  readonly remove: readonly number[];
}

const keyOf = (gateway: string, dev: string): string => `${gateway}%${dev}`;

/**
 * Pure: one nexthop object per gateway of `want`. An object of ours (protocol 44, id in our range:
 * `isOwnedNexthop`) already going that way keeps its id, so the routes through it are not rewritten;
 * a new gateway gets the lowest id of our range that nobody uses (another tool's object in our
 * range keeps its id and is never touched); ours that nothing wants are removed, unless `keep`
 * (graceful restart: the routes of the previous run may still go through them).
 */
export function planNexthops(want: readonly NexthopWant[], have: readonly Nexthop[], opts: { readonly keep: boolean }): NexthopPlan {
  const taken = new Set(have.map((n) => n.id));
  const existing = new Map<string, number>();
  for (const n of have) if (isOwnedNexthop(n) && n.gateway && n.dev !== undefined && !n.onlink && !existing.has(keyOf(n.gateway, n.dev))) existing.set(keyOf(n.gateway, n.dev), n.id);
  const ids = new Map<string, number>();
  const used = new Set<number>();
  const replace: GatewayNexthop[] = [];
  let cursor = OWNED_NEXTHOP_IDS.base;
  const end = OWNED_NEXTHOP_IDS.base + OWNED_NEXTHOP_IDS.span;
  for (const w of want) {
    if (ids.has(w.gateway)) continue;
    const id = existing.get(keyOf(w.gateway, w.dev));
    if (id !== undefined) {
      ids.set(w.gateway, id);
      used.add(id);
      continue;
    }
    while (cursor < end && taken.has(cursor)) cursor++;
    if (cursor >= end) continue;
    taken.add(cursor);
    used.add(cursor);
    ids.set(w.gateway, cursor);
    replace.push({ id: cursor, gateway: w.gateway, dev: w.dev, protocol: KUBE_ROUTER_RT_PROTO });
  }
  const remove = opts.keep ? [] : have.filter((n) => isOwnedNexthop(n) && !used.has(n.id)).map((n) => n.id);
  return { ids, replace, remove };
}

/**
 * A learned direct route (a gateway on our subnet, no device, not onlink) through its gateway's
 * nexthop object when it has one; any other route as it is.
 */
export function withNexthop(r: Route, ids: ReadonlyMap<string, number>): Route {
  if (!r.gateway || r.dev !== undefined || r.onlink || r.nexthop !== undefined) return r;
  const id = ids.get(r.gateway);
  return id === undefined ? r : { ...r, nexthop: id };
}
