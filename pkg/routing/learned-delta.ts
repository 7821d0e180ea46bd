import type { LearnedPath } from '../bgp/speaker/rib.js';
import type { NetOp, Route } from '../linux/netlink/types.js';
import type { RouteDecision } from './route-model.js';
import { freeNexthopId, withNexthop, type NexthopState } from './nexthops.js';
import { KUBE_ROUTER_RT_PROTO } from '../linux/netlink/types.js';

/** The netlink ops for some changed prefixes (each replaces or deletes one learned route). */
export type LearnedDelta =
  /** With nexthop objects: the objects new gateways get come first, and `nexthops` is the state after the ops. */
  | { readonly kind: 'ops'; readonly ops: readonly (Extract<NetOp, { op: 'route-replace' | 'route-delete' | 'nexthop-add' }>)[]; readonly added: number; readonly removed: number; readonly nexthops?: NexthopState }
  /** These prefixes need what only a whole sync does (a tunnel to add or to leave). */
  | { readonly kind: 'full'; readonly reason: string };

const same = (a: Route, b: Route): boolean => a.dst === b.dst && a.gateway === b.gateway && a.dev === b.dev && a.table === b.table && a.nexthop === b.nexthop;

/**
 * Pure: the learned routes of `prefixes` brought to what their best paths decide now, against what
 * the last apply installed (`installed`, main table, by destination). Only direct routes are handled
 * this way: a prefix whose route goes, or went, through a tunnel asks for a whole sync, since tunnels
 * and their policy routes come and go with the routes through them. With `nexthops` (the kernel has
 * nexthop objects), a direct route goes through its gateway's object, and a new gateway gets one (the
 * lowest id of our range not known to be taken, created exclusively). Objects no route uses any more
 * stay until the next whole sync.
 */
export function learnedDelta(prefixes: Iterable<string>, best: ReadonlyMap<string, LearnedPath>, decide: (p: LearnedPath) => RouteDecision | undefined, installed: ReadonlyMap<string, Route>, nexthops?: NexthopState): LearnedDelta {
  const routeOps: Extract<NetOp, { op: 'route-replace' | 'route-delete' }>[] = [];
  const adds: Extract<NetOp, { op: 'nexthop-add' }>[] = [];
  let ids = nexthops?.ids;
  let taken = nexthops?.taken;
  let added = 0;
  let removed = 0;
  for (const k of prefixes) {
    const path = best.get(k);
    const d = path ? decide(path) : undefined;
    const have = installed.get(k);
    if (d?.kind === 'tunnel' || have?.dev !== undefined) return { kind: 'full', reason: `${k} goes through a tunnel` };
    let want = d?.kind === 'direct' ? d.route : undefined;
    if (d?.kind === 'direct' && want?.gateway && ids && taken) {
      if (!ids.has(want.gateway)) {
        const id = freeNexthopId(taken);
        if (id !== undefined) {
          // Copies only when a gateway is new (rare: a burst of 100,000 prefixes has one or a few).
          ids = new Map(ids).set(want.gateway, id);
          taken = new Set(taken).add(id);
          adds.push({ op: 'nexthop-add', nexthop: { id, gateway: want.gateway, dev: d.dev, protocol: KUBE_ROUTER_RT_PROTO } });
        }
      }
      want = withNexthop(want, ids);
    }
    if (want && !(have && same(have, want))) {
      routeOps.push({ op: 'route-replace', route: want });
      added++;
    } else if (!want && have) {
      routeOps.push({ op: 'route-delete', route: have });
      removed++;
    }
  }
  return { kind: 'ops', ops: adds.length > 0 ? [...adds, ...routeOps] : routeOps, added, removed, ...(ids && taken ? { nexthops: { ids, taken } } : {}) };
}
