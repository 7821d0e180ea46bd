import type { LearnedPath } from '../bgp/speaker/rib.js';
import type { Route, RouteRule } from '../linux/netlink/types.js';
import type { RouteModel } from './route-model.js';
import { TUNNEL_TABLE } from './route-model.js';

/** One route or rule the router owns, as the kernel has it, and why it is there. */
export interface RouteExplained {
  readonly kind: 'route' | 'rule';
  readonly table: number;
  /** Prefix (routes) or `from PREFIX` (rules). */
  readonly what: string;
  readonly via?: string;
  readonly dev?: string;
  /** The nexthop object the route goes through (its `nhid`). */
  readonly nexthop?: number;
  /** installed: in the kernel and wanted; missing: wanted, not (yet) in the kernel; unexpected: ours in the kernel, not wanted. */
  readonly state: 'installed' | 'missing' | 'unexpected';
  /** bgp (learned directly on a shared subnet), tunnel (overlay to the node that advertised it), policy (overlay policy routing). */
  readonly reason: string;
  readonly peer?: string;
  readonly asPath?: readonly number[];
}

const routeKey = (r: Route): string => `${r.table}|${r.dst}`;
const ruleKey = (r: RouteRule): string => `${r.family}|${r.priority}|${r.from ?? ''}|${r.table}`;

/**
 * Joins what the router last decided (its route model, with the best path behind each learned
 * route) with what the kernel holds of ours (protocol-44 routes, our policy rules). Pure.
 */
export function explainRoutes(model: RouteModel | undefined, best: readonly LearnedPath[], kernelRoutes: readonly Route[], kernelRules: readonly RouteRule[]): RouteExplained[] {
  const byPrefix = new Map(best.map((p) => [p.prefix, p] as const));
  const wantedRoutes = new Map<string, { route: Route; reason: string; path?: LearnedPath }>();
  for (const d of model?.decisions ?? []) {
    if (d.kind === 'unreachable') continue;
    const path = byPrefix.get(d.route.dst);
    wantedRoutes.set(routeKey(d.route), { route: d.route, reason: d.kind === 'tunnel' ? `tunnel to ${d.remote}` : 'bgp', ...(path ? { path } : {}) });
  }
  for (const r of model?.tunnelRoutes ?? []) wantedRoutes.set(routeKey(r), { route: r, reason: `policy routing: host route to the tunnel (table ${TUNNEL_TABLE})` });
  const out: RouteExplained[] = [];
  const seen = new Set<string>();
  for (const k of kernelRoutes) {
    const w = wantedRoutes.get(routeKey(k));
    seen.add(routeKey(k));
    out.push({
      kind: 'route',
      table: k.table,
      what: k.dst,
      ...(k.gateway ? { via: k.gateway } : {}),
      ...(k.dev ? { dev: k.dev } : {}),
      ...(k.nexthop !== undefined ? { nexthop: k.nexthop } : {}),
      state: w ? 'installed' : 'unexpected',
      reason: w?.reason ?? 'not wanted any more (removed at the next sync)',
      ...(w?.path ? { peer: w.path.peer, asPath: w.path.asPath } : {}),
    });
  }
  for (const [k, w] of wantedRoutes) {
    if (seen.has(k)) continue;
    out.push({ kind: 'route', table: w.route.table, what: w.route.dst, ...(w.route.gateway ? { via: w.route.gateway } : {}), ...(w.route.dev ? { dev: w.route.dev } : {}), state: 'missing', reason: w.reason, ...(w.path ? { peer: w.path.peer, asPath: w.path.asPath } : {}) });
  }
  const wantedRules = new Set((model?.rules ?? []).map(ruleKey));
  const kernelRuleKeys = new Set(kernelRules.map(ruleKey));
  for (const r of kernelRules) out.push({ kind: 'rule', table: r.table, what: `from ${r.from ?? 'all'} priority ${r.priority}`, state: wantedRules.has(ruleKey(r)) ? 'installed' : 'unexpected', reason: 'policy routing: pod traffic to remote nodes goes through the tunnels' });
  for (const r of model?.rules ?? []) if (!kernelRuleKeys.has(ruleKey(r))) out.push({ kind: 'rule', table: r.table, what: `from ${r.from ?? 'all'} priority ${r.priority}`, state: 'missing', reason: 'policy routing: pod traffic to remote nodes goes through the tunnels' });
  return out.sort((a, b) => a.kind.localeCompare(b.kind) || a.table - b.table || a.what.localeCompare(b.what));
}
