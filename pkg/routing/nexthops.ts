import { isOwnedNexthop, KUBE_ROUTER_RT_PROTO, OWNED_NEXTHOP_IDS, type GatewayNexthop, type Nexthop, type Route } from '../linux/netlink/types.js';
import type { IP } from '../util/ip.js';

/** A gateway that learned routes share, and the device it is reached on. */
export interface NexthopWant {
  readonly gateway: IP;
  readonly dev: string;
}

/** Which id each gateway's object has, and every id of the namespace we know to be taken (anyone's). */
export interface NexthopState {
  /** Gateway → the id of our object for it. A gateway without one (our id range full) keeps plain `via` routes. */
  readonly ids: ReadonlyMap<string, number>;
  readonly taken: ReadonlySet<number>;
}

/** Our nexthop objects after a sync: the state it leaves, what to create, what to delete. */
export interface NexthopPlan extends NexthopState {
  /** Created exclusively: an id someone took since the read fails the write, it never replaces theirs. */
  readonly add: readonly GatewayNexthop[];
  /** Ours that no route wants any more; the kernel takes any route still through them along. */
  readonly remove: readonly number[];
}

const keyOf = (gateway: string, dev: string): string => `${gateway}%${dev}`;
const END = OWNED_NEXTHOP_IDS.base + OWNED_NEXTHOP_IDS.span;

/** The lowest id of our range from `from` on that is not taken; undefined when the range is full. */
export function freeNexthopId(taken: ReadonlySet<number>, from: number = OWNED_NEXTHOP_IDS.base): number | undefined {
  let id = Math.max(from, OWNED_NEXTHOP_IDS.base);
  while (id < END && taken.has(id)) id++;
  return id < END ? id : undefined;
}

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
  const add: GatewayNexthop[] = [];
  let cursor: number | undefined = OWNED_NEXTHOP_IDS.base;
  for (const w of want) {
    if (ids.has(w.gateway)) continue;
    const id = existing.get(keyOf(w.gateway, w.dev));
    if (id !== undefined) {
      ids.set(w.gateway, id);
      used.add(id);
      continue;
    }
    cursor = cursor === undefined ? undefined : freeNexthopId(taken, cursor);
    if (cursor === undefined) continue;
    taken.add(cursor);
    used.add(cursor);
    ids.set(w.gateway, cursor);
    add.push({ id: cursor, gateway: w.gateway, dev: w.dev, protocol: KUBE_ROUTER_RT_PROTO });
  }
  const remove = opts.keep ? [] : have.filter((n) => isOwnedNexthop(n) && !used.has(n.id)).map((n) => n.id);
  for (const id of remove) taken.delete(id);
  return { ids, taken, add, remove };
}

/**
 * A learned direct route (a gateway on our subnet, no device, not onlink) through its gateway's
 * nexthop object when it has one; any other route as it is.
 */
export function withNexthop(r: Route, ids: ReadonlyMap<string, number>): Route {
  if (!r.gateway || r.dev !== undefined || r.onlink || r.nexthop !== undefined) return r;
  const id = ids.get(r.gateway);
  if (id === undefined) return r;
  // A literal of one fixed shape: a spread copy with a property added made the encoder (writeRoute)
  // 3-4 times slower per route on 100,000 of them (measured), and a learned route has just these fields.
  if (r.type === undefined && r.src === undefined && r.scope === undefined) return { dst: r.dst, gateway: r.gateway, table: r.table, protocol: r.protocol, nexthop: id };
  return { ...r, nexthop: id };
}
