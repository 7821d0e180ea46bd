import type { LearnedPath } from '../bgp/speaker/rib.js';
import type { Address, Route, RouteRule } from '../linux/netlink/types.js';
import { KUBE_ROUTER_RT_PROTO } from '../linux/netlink/types.js';
import { CidrList, cidrContains, familyOf, tryParseCIDR, type CIDR, type Family, type IP } from '../util/ip.js';
import type { IpsetSpec } from '../linux/ipset/types.js';
import type { OwnedChainSpec } from '../linux/iptables/owned-chain.js';
import { FORWARD_SPEC } from './forward-rules.js';
import { egressChainSpec, egressSets } from './pod-egress.js';
import { tunnelName, type TunnelEncap } from './overlay.js';
import type { NexthopWant } from './nexthops.js';

export const MAIN_TABLE = 254;
/** Upstream's `kube-router` table: routes to remote node addresses through their tunnels. */
export const TUNNEL_TABLE = 77;
/** The rule sending pod traffic to table 77 first (before main at 32766; below upstream's DSR rules). */
export const TUNNEL_RULE_PRIORITY = 32763;

/**
 * Pure: upstream's policy routing for the overlay: a `/32` (or `/128`) route to each
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
  /** On a subnet of ours: `dev` is the device of that subnet (where the gateway's nexthop object goes). */
  | { readonly kind: 'direct'; readonly route: Route; readonly dev: string }
  /** Through our tunnel to the node that advertised it (overlay). */
  | { readonly kind: 'tunnel'; readonly route: Route; readonly remote: IP }
  /** The next hop is not on a subnet of ours and no overlay is configured: the underlay must route it. */
  | { readonly kind: 'unreachable'; readonly prefix: CIDR; readonly nextHop: IP };

export interface OverlayChoice {
  readonly enabled: boolean;
  /** subnet: tunnels only to next hops outside our subnets; full: to every next hop. */
  readonly type: 'subnet' | 'full';
  /** Whether this kernel can build the chosen encapsulation. */
  readonly available: boolean;
  readonly tunnelName: (remote: IP) => string;
}

/**
 * The kernel route for one learned path (upstream's injectRoute): a next hop on one of our subnets gets
 * a direct route (host-gw); with the overlay, a next hop elsewhere (or every one with `full`) goes
 * through our tunnel to it; anything else is left to the underlay. Prefixes that contain one of our
 * own addresses, and our own pod CIDRs, are never routed away (undefined). Made once per set of
 * addresses; pure.
 */
export function routeDecider(addresses: readonly Address[], ownPrefixes: readonly CIDR[], overlay?: OverlayChoice): (p: LearnedPath) => RouteDecision | undefined {
  // Many prefixes share a few next hops (100,000 routes from one peer have one): their subnet is looked up once.
  const onLinkOf = new Map<string, Address | undefined>();
  const subnets = addresses.flatMap((a) => {
    const net = a.prefix < (familyOf(a.ip) === 4 ? 32 : 128) ? tryParseCIDR(`${a.ip}/${a.prefix}`) : undefined;
    return net ? [{ a, net }] : [];
  });
  const ours = new CidrList(addresses.map((a) => `${a.ip}/${familyOf(a.ip) === 4 ? 32 : 128}` as CIDR));
  return (p) => {
    if (ownPrefixes.includes(p.prefix)) return undefined;
    if (ours.overlapping(p.prefix)) return undefined;
    let onLink = onLinkOf.get(p.nextHop);
    if (!onLinkOf.has(p.nextHop)) {
      onLink = subnets.find(({ a, net }) => familyOf(a.ip) === familyOf(p.nextHop) && a.ip !== p.nextHop && cidrContains(net, p.nextHop))?.a;
      onLinkOf.set(p.nextHop, onLink);
    }
    if (overlay?.enabled && overlay.available && (overlay.type === 'full' || !onLink)) {
      const dev = overlay.tunnelName(p.nextHop);
      return { kind: 'tunnel', remote: p.nextHop, route: { dst: p.prefix, gateway: p.nextHop, dev, onlink: true, table: MAIN_TABLE, protocol: KUBE_ROUTER_RT_PROTO } };
    }
    if (!onLink) return { kind: 'unreachable', prefix: p.prefix, nextHop: p.nextHop };
    return { kind: 'direct', route: { dst: p.prefix, gateway: p.nextHop, table: MAIN_TABLE, protocol: KUBE_ROUTER_RT_PROTO }, dev: onLink.dev };
  };
}

/** Every learned path's route (routeDecider), in prefix order. Pure. */
export function decideRoutes(best: Iterable<LearnedPath>, addresses: readonly Address[], ownPrefixes: readonly CIDR[], overlay?: OverlayChoice): RouteDecision[] {
  const decide = routeDecider(addresses, ownPrefixes, overlay);
  const out: RouteDecision[] = [];
  for (const p of best) {
    const d = decide(p);
    if (d) out.push(d);
  }
  return out.sort((a, b) => (routeKeyOf(a) < routeKeyOf(b) ? -1 : 1));
}

function routeKeyOf(d: RouteDecision): string {
  return d.kind === 'unreachable' ? d.prefix : d.route.dst;
}


/** Each direct route's gateway once, with its device, in first-seen order. */
function directGateways(decisions: readonly RouteDecision[]): NexthopWant[] {
  const out = new Map<string, NexthopWant>();
  for (const d of decisions) if (d.kind === 'direct' && d.route.gateway && !out.has(d.route.gateway)) out.set(d.route.gateway, { gateway: d.route.gateway, dev: d.dev });
  return [...out.values()];
}

/** Everything the router wants in the kernel, computed once per sync from the BGP best paths, the nodes and the config. */
export interface RouteModel {
  readonly families: readonly Family[];
  /** False while BGP is not running: our routes, tunnels and rules are then left as they are. */
  readonly learned: boolean;
  /** What became of each learned path (for logs and `unreachable` reporting). */
  readonly decisions: readonly RouteDecision[];
  /** Our routes (protocol 44) in the main table. */
  readonly routes: readonly Route[];
  /** The gateways of the direct routes: each a nexthop object the routes through it share, where the kernel has them. */
  readonly nexthops: readonly NexthopWant[];
  /** Our tunnel endpoint per family and the remote nodes we tunnel to. */
  readonly tunnels: { readonly locals: Partial<Record<Family, { readonly ip: IP; readonly dev?: string }>>; readonly remotes: readonly IP[]; readonly encap: TunnelEncap };
  /** Policy routing for the overlay: table 77 and the rules that send pod traffic to it. */
  readonly tunnelRoutes: readonly Route[];
  readonly rules: readonly RouteRule[];
  /** FORWARD accept rules and, with --enable-pod-egress, the masquerade sets and chain, per family. */
  readonly chains: Readonly<Partial<Record<Family, readonly OwnedChainSpec[]>>>;
  readonly egressSets: Readonly<Partial<Record<Family, readonly IpsetSpec[]>>>;
  readonly sysctls: readonly (readonly [string, string])[];
}

export interface RouteModelInput {
  readonly families: readonly Family[];
  /** The speaker's best paths; undefined while BGP is not running (nothing learned is then touched). */
  readonly best?: Iterable<LearnedPath>;
  /** The node's addresses, as the kernel has them. */
  readonly addresses: readonly Address[];
  /** This node's own pod CIDRs: never routed away. */
  readonly ownPrefixes: readonly CIDR[];
  /** Our address per family as advertised next hop (and tunnel endpoint). */
  readonly nextHop: Partial<Record<Family, IP>>;
  readonly overlay: { readonly enabled: boolean; readonly type: 'subnet' | 'full'; readonly encap: TunnelEncap; readonly available: boolean };
  /** With --enable-pod-egress: every pod CIDR and node address of the cluster. */
  readonly podEgress?: { readonly podCIDRs: readonly CIDR[]; readonly nodeIPs: readonly IP[] };
}

/** Forwarding, and bridged pod traffic through iptables for NetworkPolicy (br_netfilter), as upstream sets them. */
function routerSysctls(families: readonly Family[]): [string, string][] {
  const out: [string, string][] = [['net.ipv4.ip_forward', '1'], ['net.bridge.bridge-nf-call-iptables', '1']];
  if (families.includes(6)) out.push(['net.ipv6.conf.all.forwarding', '1'], ['net.bridge.bridge-nf-call-ip6tables', '1']);
  return out;
}

/** The overlay as route decisions see it (with our tunnels' names). */
export function overlayChoice(input: Pick<RouteModelInput, 'overlay'>): OverlayChoice {
  const o = input.overlay;
  return { enabled: o.enabled, type: o.type, available: o.available, tunnelName };
}

/** The router's whole kernel state from its inputs. Pure. */
export function computeRouteModel(input: RouteModelInput): RouteModel {
  const { families, overlay } = input;
  const decisions = decideRoutes(input.best ?? [], input.addresses, input.ownPrefixes, overlayChoice(input));
  const locals: Partial<Record<Family, { ip: IP; dev?: string }>> = {};
  for (const f of families) {
    const ip = input.nextHop[f];
    const dev = input.addresses.find((a) => a.ip === ip)?.dev;
    if (ip) locals[f] = { ip, ...(dev ? { dev } : {}) };
  }
  const remotes = [...new Set(decisions.flatMap((d) => (d.kind === 'tunnel' ? [d.remote] : [])))].sort();
  const rules: RouteRule[] = [];
  if (overlay.enabled) for (const c of input.ownPrefixes) if (families.includes(familyOf(c))) rules.push({ family: familyOf(c), priority: TUNNEL_RULE_PRIORITY, from: c, table: TUNNEL_TABLE });
  const chains: Partial<Record<Family, OwnedChainSpec[]>> = {};
  const sets: Partial<Record<Family, IpsetSpec[]>> = {};
  for (const f of families) {
    chains[f] = [FORWARD_SPEC, ...(input.podEgress ? [egressChainSpec(f)] : [])];
    if (input.podEgress) sets[f] = egressSets(f, input.podEgress.podCIDRs, input.podEgress.nodeIPs);
  }
  return {
    families,
    learned: input.best !== undefined,
    decisions,
    routes: decisions.flatMap((d) => (d.kind === 'unreachable' ? [] : [d.route])),
    nexthops: directGateways(decisions),
    tunnels: { locals, remotes, encap: overlay.encap },
    tunnelRoutes: overlay.enabled ? tunnelNodeRoutes(decisions) : [],
    rules,
    chains,
    egressSets: sets,
    sysctls: routerSysctls(families),
  };
}
