import type { LearnedPath } from '../bgp/speaker/rib.js';
import type { Address, Netlink, NetOp, Route } from '../linux/netlink/types.js';
import { KUBE_ROUTER_RT_PROTO } from '../linux/netlink/types.js';
import { cidrContains, familyOf, tryParseCIDR, type CIDR, type Family, type IP } from '../util/ip.js';

export const MAIN_TABLE = 254;
/** Upstream's `kube-router` table: routes to remote node addresses through their tunnels. */
export const TUNNEL_TABLE = 77;
/** The rule sending pod traffic to table 77 first (before main at 32766; below upstream's DSR rules). */
export const TUNNEL_RULE_PRIORITY = 32763;

/**
 * Pure: upstream's policy routing for the overlay (reference §4.6): a `/32` (or `/128`) route to each
 * remote node through its tunnel in table 77, used by traffic from our pod CIDRs only, so a pod reaching
 * a remote node's own address goes through the tunnel like pod-to-pod traffic (and is not dropped by
 * the remote node's reverse-path check or by an underlay that does not route pod sources).
 */
export function tunnelNodeRoutes(decisions: readonly RouteDecision[]): Route[] {
  const out = new Map<string, Route>();
  for (const d of decisions) {
    if (d.kind !== 'tunnel' || !d.route.dev) continue;
    const host = `${d.remote}/${d.remote.includes(':') ? 128 : 32}` as CIDR;
    out.set(host, { dst: host, dev: d.route.dev, table: TUNNEL_TABLE, protocol: KUBE_ROUTER_RT_PROTO, scope: 'link' });
  }
  return [...out.values()];
}

export type RouteDecision =
  | { readonly kind: 'direct'; readonly route: Route }
  /** Through our tunnel to the node that advertised it (overlay). */
  | { readonly kind: 'tunnel'; readonly route: Route; readonly remote: IP }
  /** The next hop is not on a subnet of ours and no overlay is configured: the underlay must route it. */
  | { readonly kind: 'unreachable'; readonly prefix: CIDR; readonly nextHop: IP };

/**
 * The kernel routes for learned paths (reference §4.6 injectRoute): a next hop on one of our subnets
 * gets a direct route (host-gw); anything else is left to the underlay (overlays are issue 8's
 * tunnels). Prefixes that contain one of our own addresses are never routed away. Pure.
 */
export interface OverlayChoice {
  readonly enabled: boolean;
  /** subnet: tunnels only to next hops outside our subnets; full: to every next hop. */
  readonly type: 'subnet' | 'full';
  /** Whether this kernel can build the chosen encapsulation. */
  readonly available: boolean;
  readonly tunnelName: (remote: IP) => string;
}

export function decideRoutes(best: Iterable<LearnedPath>, addresses: readonly Address[], ownPrefixes: readonly CIDR[], overlay?: OverlayChoice): RouteDecision[] {
  const out: RouteDecision[] = [];
  for (const p of best) {
    if (ownPrefixes.includes(p.prefix)) continue;
    if (addresses.some((a) => cidrContains(p.prefix, a.ip))) continue;
    const onLink = addresses.find((a) => familyOf(a.ip) === familyOf(p.nextHop) && a.ip !== p.nextHop && sameSubnet(a, p.nextHop));
    if (overlay?.enabled && overlay.available && (overlay.type === 'full' || !onLink)) {
      const dev = overlay.tunnelName(p.nextHop);
      out.push({ kind: 'tunnel', remote: p.nextHop, route: { dst: p.prefix, gateway: p.nextHop, dev, onlink: true, table: MAIN_TABLE, protocol: KUBE_ROUTER_RT_PROTO } });
      continue;
    }
    if (!onLink) {
      out.push({ kind: 'unreachable', prefix: p.prefix, nextHop: p.nextHop });
      continue;
    }
    out.push({ kind: 'direct', route: { dst: p.prefix, gateway: p.nextHop, table: MAIN_TABLE, protocol: KUBE_ROUTER_RT_PROTO } });
  }
  return out.sort((a, b) => (routeKeyOf(a) < routeKeyOf(b) ? -1 : 1));
}

function routeKeyOf(d: RouteDecision): string {
  return d.kind === 'unreachable' ? d.prefix : d.route.dst;
}

function sameSubnet(a: Address, ip: IP): boolean {
  const bits = familyOf(a.ip) === 4 ? 32 : 128;
  if (a.prefix >= bits) return false;
  const net = tryParseCIDR(`${a.ip}/${a.prefix}`); // masks the host bits
  return net !== undefined && cidrContains(net, ip);
}

/**
 * Keeps our routes (protocol 44, main table) exactly the desired ones: replaces what is missing or
 * different, deletes ours that are no longer wanted, never touches another protocol's routes. Runs on
 * every change and every `--injected-routes-sync-period`, so a route someone deleted comes back.
 */
export async function syncRoutes(nl: Netlink, want: readonly Route[], families: readonly Family[], opts: { readonly keepUnwanted?: boolean; readonly table?: number } = {}): Promise<{ added: number; removed: number }> {
  const ops: NetOp[] = [];
  let added = 0;
  let removed = 0;
  for (const f of families) {
    const have = await nl.routes(f, { table: opts.table ?? MAIN_TABLE, protocol: KUBE_ROUTER_RT_PROTO });
    const wantF = want.filter((r) => familyOf(r.dst) === f);
    const same = (h: Route, w: Route): boolean => h.dst === w.dst && (h.gateway ?? '') === (w.gateway ?? '') && (w.dev === undefined || h.dev === w.dev);
    for (const r of wantF) {
      if (have.some((h) => same(h, r))) continue;
      ops.push({ op: 'route-replace', route: r });
      added++;
    }
    const wantDst = new Set(wantF.map((r) => r.dst as string));
    for (const r of have) {
      if (wantDst.has(r.dst) || opts.keepUnwanted) continue;
      ops.push({ op: 'route-delete', route: r });
      removed++;
    }
  }
  if (ops.length > 0) await nl.apply(ops);
  return { added, removed };
}
