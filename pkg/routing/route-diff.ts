import type { Link, NetOp, Nexthop, Route, RouteRule } from '../linux/netlink/types.js';
import { planNexthops, withNexthop, type NexthopState } from './nexthops.js';
import { familyOf } from '../util/ip.js';
import { OWNED_TUNNEL_NAME } from '../linux/owned.js';
import { tunnelOps } from './overlay.js';
import { TUNNEL_RULE_PRIORITY, TUNNEL_TABLE, type RouteModel } from './route-model.js';

/** The router's netlink state as read from the kernel: links, our routes (protocol 44) and the rules. */
export interface RouteSnapshot {
  readonly links: readonly Link[];
  /** Ours in the main table. */
  readonly main: readonly Route[];
  /** Ours in table 77. */
  readonly tunnelTable: readonly Route[];
  readonly rules: readonly RouteRule[];
  /** Every nexthop object of the namespace (anyone's); undefined where the kernel has none (before 5.3). */
  readonly nexthops?: readonly Nexthop[];
}

export interface RoutePlan {
  /** FoU receive ports: added once, "exists" is the normal answer. */
  readonly fou: readonly NetOp[];
  /** One batch: links, then routes, then rules. */
  readonly ops: readonly NetOp[];
  readonly added: number;
  readonly removed: number;
  readonly linkChanges: number;
  /** Our nexthop objects as this plan leaves them; undefined without nexthop objects. */
  readonly nexthops: NexthopState | undefined;
}

/** A policy-routing rule of ours: our priority, our table, a source prefix and nothing else. */
export function isOurRule(r: RouteRule): boolean {
  return r.priority === TUNNEL_RULE_PRIORITY && r.table === TUNNEL_TABLE && r.from !== undefined && r.fwmark === undefined;
}


/**
 * Pure: the netlink ops that take the kernel from `snap` to `model`. Routes of ours that are not wanted
 * go, unless `keepUnwanted` (graceful-restart deferral: the previous run's routes stay until the peers
 * have re-sent theirs). Neighbour entries of tunnels are re-asserted with link changes or when
 * `reassertNeighbours` (once per period). A route through a tunnel being deleted goes with the link.
 * Where the kernel has nexthop objects, direct routes go through one per gateway (nexthops.ts): the
 * objects are written before the routes and removed after them, and a route through an object being
 * removed goes with it (a peer's whole table withdrawn is one delete).
 */
export function diffRoutes(model: RouteModel, snap: RouteSnapshot, opts: { readonly keepUnwanted: boolean; readonly reassertNeighbours: boolean }): RoutePlan {
  const all = tunnelOps(model.tunnels.locals, model.tunnels.remotes, snap.links, model.tunnels.encap);
  const fou = all.filter((o) => o.op === 'fou-add');
  const tunnels = all.filter((o) => o.op !== 'fou-add');
  const linkOps = tunnels.filter((o) => o.op !== 'neigh-replace');
  const links = linkOps.length > 0 || opts.reassertNeighbours ? tunnels : [];
  const goneLinks = new Set(linkOps.flatMap((o) => (o.op === 'link-delete' ? [o.name] : [])));
  const nh = snap.nexthops ? planNexthops(model.nexthops, snap.nexthops, { keep: opts.keepUnwanted }) : undefined;
  const goneNexthops = new Set(nh?.remove ?? []);
  let added = 0;
  let removed = 0;
  // A route is in place when it goes the same way: a direct route (no device asked for) is not in
  // place while it still goes through one of our tunnels, and nothing is in place through a tunnel
  // this batch deletes (the kernel takes the route with the link). Found by the incremental property.
  const sameRoute = (h: Route, w: Route): boolean =>
    h.dst === w.dst && (h.gateway ?? '') === (w.gateway ?? '') && h.nexthop === w.nexthop && !(h.nexthop !== undefined && goneNexthops.has(h.nexthop)) && (w.dev !== undefined ? h.dev === w.dev : h.dev === undefined || !OWNED_TUNNEL_NAME.test(h.dev)) && !(h.dev !== undefined && goneLinks.has(h.dev));
  const routeOps = (want: readonly Route[], have: readonly Route[], keepUnwanted: boolean): NetOp[] => {
    const out: NetOp[] = [];
    for (const f of model.families) {
      const wantF = want.filter((r) => familyOf(r.dst) === f);
      const haveF = have.filter((r) => familyOf(r.dst) === f);
      // By destination: a table of 100,000 learned routes is compared in linear time, not 10^10 steps.
      const haveByDst = new Map<string, Route[]>();
      for (const h of haveF) {
        const list = haveByDst.get(h.dst);
        if (list) list.push(h);
        else haveByDst.set(h.dst, [h]);
      }
      for (const r of wantF) {
        if (haveByDst.get(r.dst)?.some((h) => sameRoute(h, r))) continue;
        out.push({ op: 'route-replace', route: r });
        added++;
      }
      const wantDst = new Set(wantF.map((r) => r.dst as string));
      for (const r of haveF) {
        if (wantDst.has(r.dst) || keepUnwanted) continue;
        removed++;
        if ((r.dev !== undefined && goneLinks.has(r.dev)) || (r.nexthop !== undefined && goneNexthops.has(r.nexthop))) continue;
        out.push({ op: 'route-delete', route: r });
      }
    }
    return out;
  };
  const main = nh ? model.routes.map((r) => withNexthop(r, nh.ids)) : model.routes;
  const routes = [...routeOps(main, snap.main, opts.keepUnwanted), ...routeOps(model.tunnelRoutes, snap.tunnelTable, false)];
  const rules: NetOp[] = [];
  const have = snap.rules.filter(isOurRule);
  for (const r of model.rules) if (!have.some((h) => h.family === r.family && h.from === r.from)) rules.push({ op: 'rule-add', rule: r });
  for (const h of have) if (model.families.includes(h.family) && !model.rules.some((r) => r.family === h.family && r.from === h.from)) rules.push({ op: 'rule-delete', rule: h });
  const nexthopsIn: NetOp[] = (nh?.add ?? []).map((n) => ({ op: 'nexthop-add', nexthop: n }));
  const nexthopsOut: NetOp[] = [...goneNexthops].map((id) => ({ op: 'nexthop-delete', id }));
  return { fou, ops: [...links, ...nexthopsIn, ...routes, ...rules, ...nexthopsOut], added, removed, linkChanges: linkOps.length, nexthops: nh ? { ids: nh.ids, taken: nh.taken } : undefined };
}
