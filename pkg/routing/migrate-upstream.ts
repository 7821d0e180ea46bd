/**
 * Taking over a node that ran upstream kube-router's router (an in-place image swap). What has the
 * same purpose and name as ours is adopted as it is: the `kube-bridge` bridge, the CNI config, the
 * `kube-router-pod-subnets` / `kube-router-node-ips` sets, the `from <pod CIDR> lookup 77` rules. What
 * only upstream writes is removed once our first routing sync has put our own routes, tunnels and
 * rules in place (so traffic keeps flowing): its tunnels (`tun-` and up to 11 hex digits, of kind ipip
 * or ip6tnl), its routes (protocol 17, "zebra") to the cluster's pod CIDRs, its FORWARD accept rules
 * (by their comments) and its pod-egress MASQUERADE rule straight in nat POSTROUTING. A protocol-17
 * route to anything else is not ours to judge (FRR uses that number too) and stays. Pure planning here;
 * `runUpstreamMigration` applies.
 */
import type { Iptables } from '../linux/iptables/types.js';
import { isUpstreamEgressRule, isUpstreamForwardRule, isUpstreamTunnel, UPSTREAM_RT_PROTO } from '../linux/owned.js';
import { parseSave, type SavedTable } from '../linux/iptables/save.js';
import type { Link, Netlink, NetOp, Route } from '../linux/netlink/types.js';
import { errorMessage } from '../util/errors.js';
import { cidrCovers, familyOf, parseCIDR, type CIDR, type Family } from '../util/ip.js';
import type { Logger } from '../util/logger.js';

export interface UpstreamRouterState {
  readonly links: readonly Pick<Link, 'name' | 'kind'>[];
  /** Routes of protocol 17, every table. */
  readonly routes: readonly Route[];
  readonly iptables: readonly { readonly family: Family; readonly filter: SavedTable; readonly nat: SavedTable }[];
  /** Every node's pod CIDRs (from the Node objects). */
  readonly clusterPodCIDRs: readonly CIDR[];
}

export interface UpstreamMigrationPlan {
  readonly netOps: readonly NetOp[];
  readonly iptables: readonly { readonly family: Family; readonly text: string }[];
  /** For the log: what goes. */
  readonly removed: readonly string[];
}

export function planUpstreamMigration(s: UpstreamRouterState): UpstreamMigrationPlan {
  const removed: string[] = [];
  const tunnels = s.links.filter(isUpstreamTunnel).map((l) => l.name);
  const tunnelSet = new Set(tunnels);
  const pods = s.clusterPodCIDRs.map((c) => parseCIDR(c));
  const inPods = (dst: CIDR): boolean => pods.some((p) => familyOf(p) === familyOf(dst) && cidrCovers(p, parseCIDR(dst)));
  const netOps: NetOp[] = [];
  for (const r of s.routes) {
    if (r.protocol !== UPSTREAM_RT_PROTO) continue;
    // Routes through its tunnels go with them; the others only when they lead to a pod CIDR of the cluster.
    if (r.dev !== undefined && tunnelSet.has(r.dev)) continue;
    if (!inPods(r.dst)) continue;
    netOps.push({ op: 'route-delete', route: r });
    removed.push(`route ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''} proto 17 table ${r.table}`);
  }
  for (const name of tunnels) {
    netOps.push({ op: 'link-delete', name });
    removed.push(`link ${name}`);
  }
  const iptables: { family: Family; text: string }[] = [];
  for (const t of s.iptables) {
    const lines: string[] = [];
    const forward = (t.filter.chains.get('FORWARD') ?? []).filter(isUpstreamForwardRule);
    if (forward.length > 0) lines.push('*filter', ...forward.map((r) => `-D FORWARD ${r}`), 'COMMIT');
    const egress = (t.nat.chains.get('POSTROUTING') ?? []).filter(isUpstreamEgressRule);
    if (egress.length > 0) lines.push('*nat', ...egress.map((r) => `-D POSTROUTING ${r}`), 'COMMIT');
    for (const r of [...forward.map((x) => `FORWARD ${x}`), ...egress.map((x) => `POSTROUTING ${x}`)]) removed.push(`iptables v${t.family} ${r}`);
    if (lines.length > 0) iptables.push({ family: t.family, text: [...lines, ''].join('\n') });
  }
  return { netOps, iptables, removed };
}

export interface MigrationDeps {
  readonly netlink: Netlink;
  readonly iptables: Readonly<Partial<Record<Family, Iptables>>>;
  readonly logger: Logger;
}

/** Reads, plans and removes; each step on its own (a failure is logged, the others go on). Returns what went. */
export async function runUpstreamMigration(deps: MigrationDeps, families: readonly Family[], clusterPodCIDRs: readonly CIDR[]): Promise<readonly string[]> {
  const routes: Route[] = [];
  for (const f of families) routes.push(...(await deps.netlink.routes(f, { table: 'all', protocol: UPSTREAM_RT_PROTO })));
  const iptables: UpstreamRouterState['iptables'][number][] = [];
  for (const f of families) {
    const ipt = deps.iptables[f];
    if (ipt) iptables.push({ family: f, filter: parseSave(await ipt.save('filter')), nat: parseSave(await ipt.save('nat')) });
  }
  const plan = planUpstreamMigration({ links: await deps.netlink.links(), routes, iptables, clusterPodCIDRs });
  if (plan.removed.length === 0) return [];
  if (plan.netOps.length > 0) await deps.netlink.apply(plan.netOps).catch((e: unknown) => deps.logger.warn('upstream kube-router routes or tunnels not removed', { error: errorMessage(e) }));
  for (const t of plan.iptables) await deps.iptables[t.family]?.restore(t.text).catch((e: unknown) => deps.logger.warn('upstream kube-router rules not removed', { family: t.family, error: errorMessage(e) }));
  deps.logger.info("took over the node from upstream kube-router's router: its own objects removed (ours now carry the traffic)", { removed: plan.removed.length, objects: plan.removed.slice(0, 12).join('; ') });
  return plan.removed;
}
