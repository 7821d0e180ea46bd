import { bitsOf, cidrParts, familyOf, type CIDR, type Family } from '../../util/ip.js';
import { EVERYTHING, isEverything, selectionKey } from '../../k8s/kinds/label-selector.js';
import { CHAINS, FirewallNames, TOP_CHAINS, localPodsSet, serviceVipsSet } from './names.js';
import type { FirewallNode, FirewallOptions } from './types.js';
import type { PodSelection, PolicyInfo, PolicyPeer, PolicyPort, PolicyRule } from '../../k8s/kinds/network-policy.js';
import type { PolicyProtocol } from '../../k8s/kinds/protocol.js';
import { iptablesRule, type FwMatch, type FwRule, type FwVerdict, type RuleOrigin } from './rules.js';
import type { ClusterPolicyInfo } from '../../k8s/kinds/cluster-network-policy.js';

/** What an ipset of ours holds, independent of family (each family has its own set of the same source). */
export type SetSource =
  | { readonly kind: 'local-pods' }
  /** externalIPs and LoadBalancer IPs of Services. */
  | { readonly kind: 'service-vips' }
  | { readonly kind: 'selection'; readonly key: string; readonly selection: PodSelection; readonly scope: SetScope }
  | { readonly kind: 'named'; readonly key: string; readonly selection: PodSelection; readonly scope: SetScope; readonly protocol: PolicyProtocol; readonly portName: string }
  | { readonly kind: 'ipBlock'; readonly entries: readonly string[] }
  /** A rule's peers as one `list:set` of their sets, so a rule is one line per port, not peers × ports. */
  | { readonly kind: 'union'; readonly members: readonly string[] };

/**
 * Which pods of a selection a set holds: every pod in the cluster (peers), or only this node's pods
 * (targets: they are only ever matched against a packet to or from a local pod), which keeps the sets
 * small and a pod on another node out of them.
 */
export type SetScope = 'cluster' | 'local';

/**
 * Our chains for one family: each chain's rules as the kernel-independent model (`rules`) and as
 * `iptables-save` lines (`chains`, without `-A CHAIN`), and the sets they use.
 */
export interface ChainModel {
  readonly family: Family;
  /** Each policy chain: the policy (`ns/name`) and direction it judges (explain). */
  readonly policyChains: ReadonlyMap<string, { readonly policy: string; readonly direction: 'ingress' | 'egress'; readonly tier?: 'Admin' | 'Baseline' }>;
  readonly rules: ReadonlyMap<string, readonly FwRule[]>;
  readonly chains: ReadonlyMap<string, readonly string[]>;
  readonly sets: ReadonlyMap<string, SetSource>;
  /** Policies whose rules could not be compiled: their chains isolate and allow nothing (fail closed). */
  readonly failures: readonly { readonly policy: string; readonly error: string }[];
}

export const MARK_ALLOWED = 0x10000;
export const MARK_ISOLATED = 0x20000;
/** A ClusterNetworkPolicy rule accepted the packet, or passed it on to the next tier. */
export const MARK_CNP_ACCEPT = 0x40000;
export const MARK_CNP_PASS = 0x80000;
const CNP_DECIDED = MARK_CNP_ACCEPT | MARK_CNP_PASS;
const ALL_MARKS = MARK_ALLOWED | MARK_ISOLATED | CNP_DECIDED;
export const NFLOG_GROUP = 100;
export const NFLOG_PREFIX = 'kube-router netpol denied';

const ALLOW: FwVerdict = { kind: 'mark', value: MARK_ALLOWED, mask: MARK_ALLOWED };
const RETURN: FwVerdict = { kind: 'return' };
const rule = (verdict: FwVerdict, ...match: FwMatch[]): FwRule => ({ match, verdict });

/** ICMP that keeps networking working whatever the policy (upstream's COMMON chain): ping, unreachable, time exceeded; for IPv6 also neighbour and router discovery. */
function icmpRules(family: Family): FwRule[] {
  const types = family === 4 ? [8, 3, 11] : [128, 1, 2, 3, 4, 133, 134, 135, 136];
  return types.map((type) => rule(RETURN, { kind: 'icmp', type }));
}

/** hash:net cannot hold /0: split it into two halves (upstream does the same). */
function netEntries(c: CIDR): string[] {
  const p = cidrParts(c);
  if (p.prefix > 0) return [p.prefix === bitsOf(p.family) ? p.ip : c];
  return p.family === 4 ? ['0.0.0.0/1', '128.0.0.0/1'] : ['::/1', '8000::/1'];
}

class Builder {
  readonly chains = new Map<string, FwRule[]>();
  readonly sets = new Map<string, SetSource>();
  readonly failures: { readonly policy: string; readonly error: string }[] = [];

  constructor(
    readonly family: Family,
    private readonly opts: FirewallOptions,
    readonly names: FirewallNames,
  ) {}

  chain(name: string): FwRule[] {
    let c = this.chains.get(name);
    if (!c) {
      c = [];
      this.chains.set(name, c);
    }
    return c;
  }

  selection(sel: PodSelection, scope: SetScope): string {
    const key = selectionKey(sel);
    const name = this.names.selectionSet(key, scope, this.family);
    if (!this.sets.has(name)) this.sets.set(name, { kind: 'selection', key, selection: sel, scope });
    return name;
  }

  named(sel: PodSelection, scope: SetScope, protocol: PolicyProtocol, portName: string): string {
    const key = selectionKey(sel);
    const name = this.names.namedPortSet(key, scope, protocol, portName, this.family);
    if (!this.sets.has(name)) this.sets.set(name, { kind: 'named', key, selection: sel, scope, protocol, portName });
    return name;
  }

  /** The set holding a peer, '' when it matches anything, undefined when it cannot match this family. */
  peerSet(peer: PolicyPeer): string | undefined {
    if (peer.kind === 'pods') return this.selection(peer.selection, 'cluster');
    if (familyOf(peer.cidr) !== this.family) return undefined;
    if (cidrParts(peer.cidr).prefix === 0 && peer.except.length === 0) return '';
    const entries = [...netEntries(peer.cidr), ...peer.except.flatMap(netEntries).map((e) => `${e} nomatch`)];
    const name = this.names.ipBlockSet(`${peer.cidr}|${peer.except.join(',')}`, this.family);
    this.sets.set(name, { kind: 'ipBlock', entries });
    return name;
  }

  /**
   * The match for any of `peers` (undefined: none can match this family; null: anything). Several
   * peers become one `list:set` of their sets: a member's `nomatch` (an ipBlock except) only stops
   * that member, so the union keeps NetworkPolicy's "any peer" semantics exactly.
   */
  peersMatch(peers: readonly PolicyPeer[], dir: 'src' | 'dst'): FwMatch | null | undefined {
    const members = new Set<string>();
    for (const p of peers) {
      const m = this.peerSet(p);
      if (m === '') return null;
      if (m !== undefined) members.add(m);
    }
    if (members.size === 0) return undefined;
    const sorted = [...members].sort();
    if (sorted.length === 1) return { kind: 'set', set: sorted[0] as string, dir };
    const name = this.names.unionSet(sorted.join(','), this.family);
    if (!this.sets.has(name)) this.sets.set(name, { kind: 'union', members: sorted });
    return { kind: 'set', set: name, dir };
  }

  /**
   * The port part of an allow rule: protocol and port in front, a named-port set after the peer.
   * Named ports resolve against the pods the traffic goes to: the policy's own pods for ingress, the
   * peer pods (all pods when the rule names no peer) for egress.
   */
  portMatch(port: PolicyPort, namedOver: PodSelection, scope: SetScope): { head: FwMatch; tail: FwMatch | null } | undefined {
    if (port.protocol === 'sctp' && !this.opts.sctp) return undefined;
    const protocol = port.protocol;
    switch (port.kind) {
      case 'any-port':
        return { head: { kind: 'port', protocol }, tail: null };
      case 'number':
        return { head: { kind: 'port', protocol, port: port.port, ...(port.endPort !== undefined ? { endPort: port.endPort } : {}) }, tail: null };
      case 'named':
        return { head: { kind: 'port', protocol }, tail: { kind: 'named-port', set: this.named(namedOver, scope, protocol, port.name) } };
    }
  }

  /**
   * Allow rules of one policy rule, each marking the packet allowed: one per port with all peers in
   * one set (rules grow with ports, not peers × ports). Only egress named ports stay per peer: they
   * resolve on each peer's own pods.
   */
  ruleLines(pr: PolicyRule, dir: 'ingress' | 'egress', targets: PodSelection, out: FwRule[], origin?: RuleOrigin, as: { readonly verdict: FwVerdict; readonly guard: readonly FwMatch[] } = { verdict: ALLOW, guard: [] }): void {
    const peerDir = dir === 'ingress' ? 'src' : 'dst';
    const peers = pr.peers === 'all' ? null : this.peersMatch(pr.peers, peerDir);
    if (peers === undefined) return;
    const line = (...parts: (FwMatch | null)[]): void => {
      out.push({ match: [...as.guard, ...parts.filter((x): x is FwMatch => x !== null)], verdict: as.verdict, ...(origin ? { origin } : {}) });
    };
    if (pr.ports === 'all') return line(peers);
    const everyPod: PodSelection = { namespaces: { kind: 'selector', selector: EVERYTHING }, pods: EVERYTHING };
    for (const port of pr.ports) {
      if (port.kind === 'named' && dir === 'egress') {
        // Named ports resolve on the peer pods; for ipBlock peers or "any peer", on every pod.
        for (const peer of pr.peers === 'all' ? [undefined] : pr.peers) {
          const match = peer === undefined ? '' : this.peerSet(peer);
          if (match === undefined) continue;
          const pm = this.portMatch(port, peer?.kind === 'pods' ? peer.selection : everyPod, 'cluster');
          if (pm) line(pm.head, match === '' ? null : { kind: 'set', set: match, dir: peerDir }, pm.tail);
        }
        continue;
      }
      const pm = this.portMatch(port, dir === 'ingress' ? targets : everyPod, dir === 'ingress' ? 'local' : 'cluster');
      if (pm) line(pm.head, peers, pm.tail);
    }
  }
}

function sortedPolicies(policies: Iterable<PolicyInfo>): PolicyInfo[] {
  const key = (p: PolicyInfo): string => `${p.namespace}/${p.name}`;
  return [...policies].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/**
 * The firewall's chains for one family, from the policies alone (pods only change set members, so a
 * pod event never rewrites a chain). Layout, per new connection to or from a local pod:
 *
 *   KUBE-ROUTER-{INPUT,FORWARD,OUTPUT}  one jump each from the built-in chains; established → RETURN
 *     → KUBE-NWPLCY-INGRESS / -EGRESS   ICMP and the node's own traffic pass; dispatch on the pod's namespace
 *       → KUBE-NWPLCY-N{I,E}-<ns>       one jump per policy of that namespace, guarded by its target set
 *         → KUBE-NWPLCY-{I,E}-<policy>  marks "isolated", then "allowed" if a rule matches
 *       allowed → PASS (clears the marks, returns); isolated and not allowed → REJECT (NFLOG first)
 *
 * So the rule count is a constant plus one per namespace with policies, one per policy and one per
 * peer × port; it does not grow with pods.
 */
export function renderChains(policiesIn: Iterable<PolicyInfo>, node: FirewallNode, opts: FirewallOptions, family: Family, names: FirewallNames = new FirewallNames(), clusterPoliciesIn: Iterable<ClusterPolicyInfo> = []): ChainModel {
  const b = new Builder(family, opts, names);
  const policies = sortedPolicies(policiesIn);
  const policyChains = new Map<string, { readonly policy: string; readonly direction: 'ingress' | 'egress'; readonly tier?: 'Admin' | 'Baseline' }>();
  const lp = localPodsSet(family);
  b.sets.set(lp, { kind: 'local-pods' });
  const podCIDRs = node.podCIDRs.filter((c) => familyOf(c) === family);
  const established = rule(RETURN, { kind: 'established' });
  const jump = (chain: string): FwVerdict => ({ kind: 'jump', chain });
  const toEgress = rule(jump(CHAINS.egress), { kind: 'set', set: lp, dir: 'src' });
  const toReject = jump(CHAINS.reject);

  const input = b.chain(TOP_CHAINS.INPUT);
  input.push(established);
  for (const c of opts.serviceClusterIPRanges.filter((c) => familyOf(c) === family)) input.push(rule(RETURN, { kind: 'addr', dir: 'dst', cidr: c }));
  if (opts.serviceExemptions) {
    const vips = serviceVipsSet(family);
    b.sets.set(vips, { kind: 'service-vips' });
    input.push(rule(RETURN, { kind: 'set', set: vips, dir: 'dst' }));
    const { min, max } = opts.serviceExemptions.nodePorts;
    for (const protocol of ['tcp', 'udp', ...(opts.sctp ? ['sctp' as const] : [])] as const) input.push(rule(RETURN, { kind: 'port', protocol, port: min, endPort: max }, { kind: 'local', dir: 'dst' }));
  }
  input.push(toEgress);
  const forward = b.chain(TOP_CHAINS.FORWARD);
  forward.push(established, toEgress, rule(jump(CHAINS.ingress), { kind: 'set', set: lp, dir: 'dst' }));
  const output = b.chain(TOP_CHAINS.OUTPUT);
  output.push(established, toEgress, rule(jump(CHAINS.ingress), { kind: 'local', dir: 'src', negate: true }, { kind: 'set', set: lp, dir: 'dst' }));
  if (opts.defaultDeny) {
    // --netpol-default-deny: an address of this node's pod range that is not (yet) a programmed local
    // pod gets nothing, so a new pod is isolated from its first packet until its policies are in.
    for (const c of podCIDRs) {
      const fromUnready = rule(toReject, { kind: 'addr', dir: 'src', cidr: c }, { kind: 'local', dir: 'src', negate: true }, { kind: 'set', set: lp, dir: 'src', negate: true });
      input.push(fromUnready);
      forward.push(fromUnready, rule(toReject, { kind: 'addr', dir: 'dst', cidr: c }, { kind: 'local', dir: 'dst', negate: true }, { kind: 'set', set: lp, dir: 'dst', negate: true }));
      output.push(rule(toReject, { kind: 'addr', dir: 'dst', cidr: c }, { kind: 'local', dir: 'src', negate: true }, { kind: 'set', set: lp, dir: 'dst', negate: true }));
    }
  }

  const clearMarks = rule({ kind: 'mark', value: 0, mask: ALL_MARKS });
  const clusterPolicies = [...clusterPoliciesIn].sort((a, c) => a.priority - c.priority || (a.name < c.name ? -1 : a.name > c.name ? 1 : 0));
  if (clusterPolicies.length > 0) {
    b.chain(CHAINS.cnpAccept).push(rule({ kind: 'mark', value: MARK_CNP_ACCEPT, mask: MARK_CNP_ACCEPT }));
    b.chain(CHAINS.cnpPass).push(rule({ kind: 'mark', value: MARK_CNP_PASS, mask: MARK_CNP_PASS }));
  }
  /**
   * One tier of ClusterNetworkPolicies for one direction: a chain that jumps, in priority order, to
   * each policy whose subject holds the pod, while nothing has decided yet; each policy's rules in
   * order, each first match deciding: Accept and Pass set their mark (and every later rule and
   * policy of the tier is skipped), Deny refuses. Undefined when no policy of the tier has rules
   * for this direction.
   */
  const tierChain = (tier: 'Admin' | 'Baseline', dir: 'ingress' | 'egress'): string | undefined => {
    const list = clusterPolicies.filter((c) => c.tier === tier && (dir === 'ingress' ? c.ingress : c.egress).length > 0);
    if (list.length === 0) return undefined;
    const podDir = dir === 'ingress' ? 'dst' : 'src';
    const name = names.tierChain(tier, dir);
    const tc = b.chain(name);
    const undecided: FwMatch = { kind: 'mark-clear', bits: CNP_DECIDED };
    for (const c of list) {
      const pc = names.clusterPolicyChain(dir, c.name);
      policyChains.set(pc, { policy: c.name, direction: dir, tier });
      tc.push(rule(jump(pc), undecided, { kind: 'set', set: b.selection(c.subject, 'local'), dir: podDir }));
      const chain = b.chain(pc);
      const verdictOf = (a: 'Accept' | 'Deny' | 'Pass'): FwVerdict => (a === 'Deny' ? toReject : jump(a === 'Accept' ? CHAINS.cnpAccept : CHAINS.cnpPass));
      try {
        for (const [i, r] of (dir === 'ingress' ? c.ingress : c.egress).entries()) {
          b.ruleLines({ peers: r.peers, ports: r.ports }, dir, c.subject, chain, { policy: c.name, direction: dir, rule: i, tier, action: r.action }, { verdict: verdictOf(r.action), guard: [undecided] });
        }
      } catch (e) {
        // Fails closed: a policy that cannot be compiled refuses its subject's traffic in this direction.
        chain.length = 0;
        chain.push(rule(toReject, undecided));
        b.failures.push({ policy: c.name, error: e instanceof Error ? e.message : String(e) });
      }
    }
    return name;
  };
  b.chain(CHAINS.pass).push(clearMarks);
  b.chain(CHAINS.reject).push(rule({ kind: 'log', prefix: NFLOG_PREFIX, group: NFLOG_GROUP }, { kind: 'limit', perMinute: 10, burst: 10 }), rule({ kind: 'reject' }));

  for (const dir of ['ingress', 'egress'] as const) {
    const podDir = dir === 'ingress' ? 'dst' : 'src';
    const top = b.chain(dir === 'ingress' ? CHAINS.ingress : CHAINS.egress);
    top.push(clearMarks, ...icmpRules(family));
    if (dir === 'ingress') top.push(rule(RETURN, { kind: 'local', dir: 'src' }));
    // Admin tier first: Accept is final, Deny refused in the tier's chain, Pass goes on to NetworkPolicy.
    const admin = tierChain('Admin', dir);
    if (admin) top.push(rule(jump(admin)), rule({ kind: 'goto', chain: CHAINS.pass }, { kind: 'mark', bits: MARK_CNP_ACCEPT }), rule({ kind: 'mark', value: 0, mask: MARK_CNP_PASS }));
    const byNs = new Map<string, PolicyInfo[]>();
    for (const p of policies) {
      if ((dir === 'ingress' ? p.ingress : p.egress) === undefined) continue;
      const list = byNs.get(p.namespace) ?? [];
      list.push(p);
      byNs.set(p.namespace, list);
    }
    for (const [ns, list] of byNs) {
      const nsSel: PodSelection = { namespaces: { kind: 'name', name: ns }, pods: EVERYTHING };
      const nsChain = names.namespaceChain(dir, ns);
      top.push({ ...rule(jump(nsChain), { kind: 'set', set: b.selection(nsSel, 'local'), dir: podDir }), dispatch: true });
      const nc = b.chain(nsChain);
      for (const p of list) {
        const targets: PodSelection = { namespaces: { kind: 'name', name: ns }, pods: p.podSelector };
        const pc = names.policyChain(dir, p.namespace, p.name);
        policyChains.set(pc, { policy: `${p.namespace}/${p.name}`, direction: dir });
        const guard: FwMatch[] = isEverything(p.podSelector) ? [] : [{ kind: 'set', set: b.selection(targets, 'local'), dir: podDir }];
        nc.push(rule(jump(pc), { kind: 'mark', bits: MARK_ALLOWED, negate: true }, ...guard));
        const chain = b.chain(pc);
        chain.push(rule({ kind: 'mark', value: MARK_ISOLATED, mask: MARK_ISOLATED }));
        // One policy's fault stays in its chain, and fails closed: its pods are isolated, nothing allowed.
        const lines: FwRule[] = [];
        try {
          for (const [i, r] of ((dir === 'ingress' ? p.ingress : p.egress) ?? []).entries()) b.ruleLines(r, dir, targets, lines, { policy: `${p.namespace}/${p.name}`, direction: dir, rule: i });
        } catch (e) {
          lines.length = 0;
          b.failures.push({ policy: `${p.namespace}/${p.name}`, error: e instanceof Error ? e.message : String(e) });
        }
        for (const l of lines) chain.push(l);
      }
      nc.push(rule(RETURN, { kind: 'mark', bits: MARK_ALLOWED }), rule(toReject, { kind: 'mark', bits: MARK_ISOLATED }));
    }
    // NetworkPolicy decided for a pod it isolates (allowed here; refused in the namespace chain).
    if (byNs.size > 0) top.push(rule({ kind: 'goto', chain: CHAINS.pass }, { kind: 'mark', bits: MARK_ALLOWED }));
    // Baseline tier for pods no NetworkPolicy isolates: Deny refused there; Accept, Pass or no match: allowed.
    const baseline = tierChain('Baseline', dir);
    if (baseline) top.push(rule(jump(baseline)), rule({ kind: 'goto', chain: CHAINS.pass }));
  }
  // The iptables text is made on first use: the nftables backend renders from the rules and never reads it.
  let chains: ReadonlyMap<string, readonly string[]> | undefined;
  return {
    family,
    policyChains,
    rules: b.chains,
    get chains() {
      chains ??= new Map([...b.chains].map(([name, rs]) => [name, rs.map((r) => iptablesRule(r, family))]));
      return chains;
    },
    sets: b.sets,
    failures: b.failures,
  };
}

/** Most allow lines one policy may compile to, per family (documented in the README). */
export const MAX_RULES_PER_POLICY = 20_000;

/**
 * How many rules a policy compiles to in one family: the budget a policy is checked against before it
 * is accepted (an over-budget policy is refused and its last good version stays). iptables lines by
 * default; with `expandUnions`, nft rules (a rule over several peer sets is one rule per set there).
 * Stops counting past the budget. Pure.
 */
function ruleCount(family: Family, opts: FirewallOptions, targets: PodSelection, rules: (dir: 'ingress' | 'egress') => readonly PolicyRule[], expandUnions: boolean): number {
  const b = new Builder(family, opts, new FirewallNames());
  const unionSize = (set: string): number => {
    const src = b.sets.get(set);
    return src?.kind === 'union' ? src.members.length : 1;
  };
  let count = 0;
  for (const dir of ['ingress', 'egress'] as const) {
    for (const rule of rules(dir)) {
      const lines: FwRule[] = [];
      b.ruleLines(rule, dir, targets, lines);
      for (const l of lines) {
        let n = 1;
        if (expandUnions) for (const m of l.match) if (m.kind === 'set') n *= unionSize(m.set);
        count += n;
      }
      if (count > MAX_RULES_PER_POLICY) return count;
    }
  }
  return count;
}

export function policyRuleCount(p: PolicyInfo, opts: FirewallOptions, family: Family, expandUnions = false): number {
  return ruleCount(family, opts, { namespaces: { kind: 'name', name: p.namespace }, pods: p.podSelector }, (dir) => (dir === 'ingress' ? p.ingress : p.egress) ?? [], expandUnions);
}

/** The same budget for a ClusterNetworkPolicy (its rules in both directions, over its subject). */
export function clusterPolicyRuleCount(c: ClusterPolicyInfo, opts: FirewallOptions, family: Family, expandUnions = false): number {
  return ruleCount(family, opts, c.subject, (dir) => dir === 'ingress' ? c.ingress : c.egress, expandUnions);
}
