import { bitsOf, cidrParts, familyOf, type CIDR, type Family } from '../../util/ip.js';
import { EVERYTHING, isEverything, selectionKey } from '../../k8s/kinds/label-selector.js';
import { CHAINS, FirewallNames, TOP_CHAINS, localPodsSet } from './names.js';
import type { FirewallNode, FirewallOptions } from './types.js';
import type { PodSelection, PolicyInfo, PolicyPeer, PolicyPort, PolicyRule } from '../../k8s/kinds/network-policy.js';
import type { PolicyProtocol } from '../../k8s/kinds/protocol.js';

/** What an ipset of ours holds, independent of family (each family has its own set of the same source). */
export type SetSource =
  | { readonly kind: 'local-pods' }
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

/** Our chains for one family: rules in `iptables-save` form (without `-A CHAIN`), and the sets they use. */
export interface ChainModel {
  readonly family: Family;
  readonly chains: ReadonlyMap<string, readonly string[]>;
  readonly sets: ReadonlyMap<string, SetSource>;
  /** Policies whose rules could not be compiled: their chains isolate and allow nothing (fail closed). */
  readonly failures: readonly { readonly policy: string; readonly error: string }[];
}

export const MARK_ALLOWED = '0x10000';
export const MARK_ISOLATED = '0x20000';
const BOTH_MARKS = '0x30000';
export const NFLOG_GROUP = 100;

const ALLOW = `-j MARK --set-xmark ${MARK_ALLOWED}/${MARK_ALLOWED}`;

/** ICMP that keeps networking working whatever the policy (upstream's COMMON chain): ping, unreachable, time exceeded; for IPv6 also neighbour and router discovery. */
function icmpRules(family: Family): string[] {
  if (family === 4) return [8, 3, 11].map((t) => `-p icmp -m icmp --icmp-type ${t} -j RETURN`);
  return [128, 1, 2, 3, 4, 133, 134, 135, 136].map((t) => `-p ipv6-icmp -m icmp6 --icmpv6-type ${t} -j RETURN`);
}

/** hash:net cannot hold /0: split it into two halves (upstream does the same). */
function netEntries(c: CIDR): string[] {
  const p = cidrParts(c);
  if (p.prefix > 0) return [p.prefix === bitsOf(p.family) ? p.ip : c];
  return p.family === 4 ? ['0.0.0.0/1', '128.0.0.0/1'] : ['::/1', '8000::/1'];
}

class Builder {
  readonly chains = new Map<string, string[]>();
  readonly sets = new Map<string, SetSource>();
  readonly failures: { readonly policy: string; readonly error: string }[] = [];

  constructor(
    readonly family: Family,
    private readonly opts: FirewallOptions,
    readonly names: FirewallNames,
  ) {}

  chain(name: string): string[] {
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
   * The match for any of `peers` (undefined: none can match this family; '' anything). Several peers
   * become one `list:set` of their sets: a member's `nomatch` (an ipBlock except) only stops that member,
   * so the union keeps NetworkPolicy's "any peer" semantics exactly.
   */
  peersMatch(peers: readonly PolicyPeer[], dir: 'src' | 'dst'): string | undefined {
    const members = new Set<string>();
    for (const p of peers) {
      const m = this.peerSet(p);
      if (m === '') return '';
      if (m !== undefined) members.add(m);
    }
    if (members.size === 0) return undefined;
    const sorted = [...members].sort();
    if (sorted.length === 1) return `-m set --match-set ${sorted[0] as string} ${dir}`;
    const name = this.names.unionSet(sorted.join(','), this.family);
    if (!this.sets.has(name)) this.sets.set(name, { kind: 'union', members: sorted });
    return `-m set --match-set ${name} ${dir}`;
  }

  /**
   * The port part of an allow rule: protocol and port in front, a named-port set after the peer.
   * Named ports resolve against the pods the traffic goes to: the policy's own pods for ingress, the
   * peer pods (all pods when the rule names no peer) for egress.
   */
  portMatch(port: PolicyPort, namedOver: PodSelection, scope: SetScope): { head: string; tail: string } | undefined {
    if (port.protocol === 'sctp' && !this.opts.sctp) return undefined;
    const p = port.protocol;
    switch (port.kind) {
      case 'any-port':
        return { head: `-p ${p}`, tail: '' };
      case 'number':
        return { head: `-p ${p} -m ${p} --dport ${port.port}${port.endPort !== undefined ? `:${port.endPort}` : ''}`, tail: '' };
      case 'named':
        return { head: `-p ${p}`, tail: `-m set --match-set ${this.named(namedOver, scope, p, port.name)} dst,dst` };
    }
  }

  /**
   * Allow lines of one rule, each marking the packet allowed: one line per port with all peers in one
   * set (lines grow with ports, not peers × ports). Only egress named ports stay per peer: they resolve
   * on each peer's own pods.
   */
  ruleLines(rule: PolicyRule, dir: 'ingress' | 'egress', targets: PodSelection, out: string[]): void {
    const peerDir = dir === 'ingress' ? 'src' : 'dst';
    const peers = rule.peers === 'all' ? '' : this.peersMatch(rule.peers, peerDir);
    if (peers === undefined) return;
    const line = (...parts: string[]): void => {
      out.push([...parts, ALLOW].filter((x) => x !== '').join(' '));
    };
    if (rule.ports === 'all') return line(peers);
    const everyPod: PodSelection = { namespaces: { kind: 'selector', selector: EVERYTHING }, pods: EVERYTHING };
    for (const port of rule.ports) {
      if (port.kind === 'named' && dir === 'egress') {
        // Named ports resolve on the peer pods; for ipBlock peers or "any peer", on every pod.
        for (const peer of rule.peers === 'all' ? [undefined] : rule.peers) {
          const match = peer === undefined ? '' : this.peerSet(peer);
          if (match === undefined) continue;
          const pm = this.portMatch(port, peer?.kind === 'pods' ? peer.selection : everyPod, 'cluster');
          if (pm) line(pm.head, match === '' ? '' : `-m set --match-set ${match} ${peerDir}`, pm.tail);
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
export function renderChains(policiesIn: Iterable<PolicyInfo>, node: FirewallNode, opts: FirewallOptions, family: Family, names: FirewallNames = new FirewallNames()): ChainModel {
  const b = new Builder(family, opts, names);
  const policies = sortedPolicies(policiesIn);
  const lp = localPodsSet(family);
  b.sets.set(lp, { kind: 'local-pods' });
  const podCIDRs = node.podCIDRs.filter((c) => familyOf(c) === family);
  const established = '-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN';

  const input = b.chain(TOP_CHAINS.INPUT);
  input.push(established);
  for (const c of opts.serviceClusterIPRanges.filter((c) => familyOf(c) === family)) input.push(`-d ${c} -j RETURN`);
  input.push(`-m set --match-set ${lp} src -j ${CHAINS.egress}`);
  const forward = b.chain(TOP_CHAINS.FORWARD);
  forward.push(established, `-m set --match-set ${lp} src -j ${CHAINS.egress}`, `-m set --match-set ${lp} dst -j ${CHAINS.ingress}`);
  const output = b.chain(TOP_CHAINS.OUTPUT);
  output.push(established, `-m set --match-set ${lp} src -j ${CHAINS.egress}`, `-m addrtype ! --src-type LOCAL -m set --match-set ${lp} dst -j ${CHAINS.ingress}`);
  if (opts.defaultDeny) {
    // --netpol-default-deny: an address of this node's pod range that is not (yet) a programmed local
    // pod gets nothing, so a new pod is isolated from its first packet until its policies are in.
    for (const c of podCIDRs) {
      const fromUnready = `-s ${c} -m addrtype ! --src-type LOCAL -m set ! --match-set ${lp} src -j ${CHAINS.reject}`;
      input.push(fromUnready);
      forward.push(fromUnready, `-d ${c} -m addrtype ! --dst-type LOCAL -m set ! --match-set ${lp} dst -j ${CHAINS.reject}`);
      output.push(`-d ${c} -m addrtype ! --src-type LOCAL -m set ! --match-set ${lp} dst -j ${CHAINS.reject}`);
    }
  }

  b.chain(CHAINS.pass).push(`-j MARK --set-xmark 0x0/${BOTH_MARKS}`);
  b.chain(CHAINS.reject).push(
    `-m limit --limit 10/min --limit-burst 10 -j NFLOG --nflog-prefix "kube-router netpol denied" --nflog-group ${NFLOG_GROUP}`,
    `-j REJECT --reject-with ${family === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable'}`,
  );

  for (const dir of ['ingress', 'egress'] as const) {
    const podDir = dir === 'ingress' ? 'dst' : 'src';
    const top = b.chain(dir === 'ingress' ? CHAINS.ingress : CHAINS.egress);
    top.push(`-j MARK --set-xmark 0x0/${BOTH_MARKS}`, ...icmpRules(family));
    if (dir === 'ingress') top.push('-m addrtype --src-type LOCAL -j RETURN');
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
      top.push(`-m set --match-set ${b.selection(nsSel, 'local')} ${podDir} -g ${nsChain}`);
      const nc = b.chain(nsChain);
      for (const p of list) {
        const targets: PodSelection = { namespaces: { kind: 'name', name: ns }, pods: p.podSelector };
        const pc = names.policyChain(dir, p.namespace, p.name);
        const guard = isEverything(p.podSelector) ? '' : ` -m set --match-set ${b.selection(targets, 'local')} ${podDir}`;
        nc.push(`-m mark ! --mark ${MARK_ALLOWED}/${MARK_ALLOWED}${guard} -j ${pc}`);
        const chain = b.chain(pc);
        chain.push(`-j MARK --set-xmark ${MARK_ISOLATED}/${MARK_ISOLATED}`);
        // One policy's fault stays in its chain, and fails closed: its pods are isolated, nothing allowed.
        const lines: string[] = [];
        try {
          for (const rule of (dir === 'ingress' ? p.ingress : p.egress) ?? []) b.ruleLines(rule, dir, targets, lines);
        } catch (e) {
          lines.length = 0;
          b.failures.push({ policy: `${p.namespace}/${p.name}`, error: e instanceof Error ? e.message : String(e) });
        }
        for (const l of lines) chain.push(l);
      }
      nc.push(`-m mark --mark ${MARK_ALLOWED}/${MARK_ALLOWED} -g ${CHAINS.pass}`, `-m mark --mark ${MARK_ISOLATED}/${MARK_ISOLATED} -j ${CHAINS.reject}`);
    }
  }
  return { family, chains: b.chains, sets: b.sets, failures: b.failures };
}

/** Most allow lines one policy may compile to, per family (documented in the README). */
export const MAX_RULES_PER_POLICY = 20_000;

/**
 * How many iptables lines a policy compiles to in one family: the budget a policy is checked against
 * before it is accepted (an over-budget policy is refused and its last good version stays). Pure.
 */
export function policyRuleCount(p: PolicyInfo, opts: FirewallOptions, family: Family): number {
  const b = new Builder(family, opts, new FirewallNames());
  const targets: PodSelection = { namespaces: { kind: 'name', name: p.namespace }, pods: p.podSelector };
  const lines: string[] = [];
  for (const dir of ['ingress', 'egress'] as const) {
    for (const rule of (dir === 'ingress' ? p.ingress : p.egress) ?? []) {
      b.ruleLines(rule, dir, targets, lines);
      if (lines.length > MAX_RULES_PER_POLICY) return lines.length;
    }
  }
  return lines.length;
}
