import type { LearnedPath } from '../bgp/speaker/rib.js';
import type { NetOp, Route } from '../linux/netlink/types.js';
import type { RouteDecision } from './route-model.js';
import { withNexthop } from './nexthops.js';

/** The netlink ops for some changed prefixes (each replaces or deletes one learned route). */
export type LearnedDelta =
  | { readonly kind: 'ops'; readonly ops: readonly (Extract<NetOp, { op: 'route-replace' | 'route-delete' }>)[]; readonly added: number; readonly removed: number }
  /** These prefixes need what only a whole sync does (a tunnel to add or to leave). */
  | { readonly kind: 'full'; readonly reason: string };

const same = (a: Route, b: Route): boolean => a.dst === b.dst && a.gateway === b.gateway && a.dev === b.dev && a.table === b.table && a.nexthop === b.nexthop;

/**
 * Pure: the learned routes of `prefixes` brought to what their best paths decide now, against what
 * the last apply installed (`installed`, main table, by destination). Only direct routes are handled
 * this way: a prefix whose route goes, or went, through a tunnel asks for a whole sync, since tunnels
 * and their policy routes come and go with the routes through them. With `nexthopIds` (the kernel
 * has nexthop objects), a direct route goes through its gateway's object; a gateway without one asks
 * for a whole sync, which writes it.
 */
export function learnedDelta(prefixes: Iterable<string>, best: ReadonlyMap<string, LearnedPath>, decide: (p: LearnedPath) => RouteDecision | undefined, installed: ReadonlyMap<string, Route>, nexthopIds?: ReadonlyMap<string, number>): LearnedDelta {
  const ops: Extract<NetOp, { op: 'route-replace' | 'route-delete' }>[] = [];
  let added = 0;
  let removed = 0;
  for (const k of prefixes) {
    const path = best.get(k);
    const d = path ? decide(path) : undefined;
    const have = installed.get(k);
    if (d?.kind === 'tunnel' || have?.dev !== undefined) return { kind: 'full', reason: `${k} goes through a tunnel` };
    let want = d?.kind === 'direct' ? d.route : undefined;
    if (want && nexthopIds) {
      const through = withNexthop(want, nexthopIds);
      if (through.nexthop === undefined) return { kind: 'full', reason: `${k}: gateway ${want.gateway ?? ''} has no nexthop object yet` };
      want = through;
    }
    if (want && !(have && same(have, want))) {
      ops.push({ op: 'route-replace', route: want });
      added++;
    } else if (!want && have) {
      ops.push({ op: 'route-delete', route: have });
      removed++;
    }
  }
  return { kind: 'ops', ops, added, removed };
}
