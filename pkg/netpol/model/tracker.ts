import type { IpsetSpec, IpsetType } from '../../linux/ipset/types.js';
import type { Family } from '../../util/ip.js';
import { renderChains, type ChainModel, type SetSource } from './chains.js';
import { FirewallNames } from './names.js';
import type { FwRule } from './rules.js';
import { SetContents } from './set-contents.js';
import type { FirewallNode, FirewallOptions } from './types.js';
import type { NamespaceInfo } from '../../k8s/kinds/namespace.js';
import type { PodInfo } from '../../k8s/kinds/pod.js';
import type { PolicyInfo } from '../../k8s/kinds/network-policy.js';
import type { ClusterPolicyInfo } from '../../k8s/kinds/cluster-network-policy.js';

export function setType(source: SetSource): IpsetType {
  switch (source.kind) {
    case 'local-pods':
    case 'service-vips':
    case 'selection':
      return 'hash:ip';
    case 'named':
      return 'hash:ip,port';
    case 'ipBlock':
      return 'hash:net';
    case 'union':
      return 'list:set';
  }
}

/** What the firewall wants in the kernel for one family, read lazily (a pod change must not copy every set). */
export interface DesiredFamily {
  readonly family: Family;
  /** Chains as `iptables-save` lines (iptables backend). */
  readonly chains: ReadonlyMap<string, readonly string[]>;
  /** Chains as the kernel-independent rule model (nftables backend). */
  readonly rules: ReadonlyMap<string, readonly FwRule[]>;
  /** Set name → ipset type. */
  readonly sets: ReadonlyMap<string, IpsetType>;
  /** Set name → what it holds. */
  readonly sources: ReadonlyMap<string, SetSource>;
  /** Policy chain → the policy and direction it judges. */
  readonly policyChains: ChainModel['policyChains'];
  entries(set: string): string[];
  /** The same members in no particular order, not copied (a whole-table render that need not sort). */
  unsortedEntries(set: string): Iterable<string>;
  has(set: string, entry: string): boolean;
}

/** Everything the firewall wants in the kernel for one family. */
export interface FamilyFirewallModel {
  readonly family: Family;
  readonly chains: ReadonlyMap<string, readonly string[]>;
  readonly sets: ReadonlyMap<string, IpsetSpec>;
}

/**
 * The firewall's view of policies, pods, namespaces and this node, and what they compute to. Chains
 * depend on policies and the node only and are re-rendered when those change; set members follow
 * pods and namespaces incrementally (SetContents). Pure: no I/O, no clock.
 */
export class FirewallTracker {
  private readonly policies = new Map<string, PolicyInfo>();
  private readonly clusterPolicies = new Map<string, ClusterPolicyInfo>();
  private node: FirewallNode;
  private chainsDirty = true;
  private chainModels = new Map<Family, ChainModel>();
  private readonly names = new FirewallNames();
  readonly sets: SetContents;

  constructor(
    nodeName: string,
    private readonly families: readonly Family[],
    readonly options: FirewallOptions,
  ) {
    this.node = { name: nodeName, podCIDRs: [] };
    this.sets = new SetContents(nodeName);
  }

  setPolicy(key: string, p: PolicyInfo | undefined): void {
    const old = this.policies.get(key);
    if (p) this.policies.set(key, p);
    else this.policies.delete(key);
    if (JSON.stringify(old) !== JSON.stringify(p)) this.chainsDirty = true;
  }

  setClusterPolicy(name: string, p: ClusterPolicyInfo | undefined): void {
    const old = this.clusterPolicies.get(name);
    if (p) this.clusterPolicies.set(name, p);
    else this.clusterPolicies.delete(name);
    if (JSON.stringify(old) !== JSON.stringify(p)) this.chainsDirty = true;
  }

  clusterPolicyCount(): number {
    return this.clusterPolicies.size;
  }

  setPod(key: string, p: PodInfo | undefined): void {
    this.sets.setPod(key, p);
  }

  setNamespace(name: string, ns: NamespaceInfo | undefined): void {
    this.sets.setNamespace(name, ns);
  }

  /** A Service's externalIPs and LoadBalancer IPs (undefined or empty: none); false when unchanged. */
  setServiceVips(key: string, ips: readonly string[] | undefined): boolean {
    return this.sets.setServiceVips(key, ips);
  }

  setNode(node: FirewallNode): void {
    if (JSON.stringify(node) === JSON.stringify(this.node)) return;
    this.node = node;
    this.chainsDirty = true;
  }

  /** A pod by `ns/name`, or the pod that has this address (explain). */
  pod(keyOrIP: string): PodInfo | undefined {
    return this.sets.pod(keyOrIP) ?? this.sets.podByIP(keyOrIP);
  }

  policyCount(): number {
    return this.policies.size;
  }

  /** The chain models, re-rendered if a policy or the node changed; `changed` says whether they were. */
  chains(): { models: ReadonlyMap<Family, ChainModel>; changed: boolean } {
    if (!this.chainsDirty) return { models: this.chainModels, changed: false };
    const next = new Map<Family, ChainModel>();
    const wanted = new Map<string, { source: SetSource; family: Family }>();
    for (const f of this.families) {
      const m = renderChains(this.policies.values(), this.node, this.options, f, this.names, this.clusterPolicies.values());
      next.set(f, m);
      for (const [name, source] of m.sets) wanted.set(name, { source, family: f });
    }
    this.sets.setSources(wanted);
    this.chainModels = next;
    this.chainsDirty = false;
    return { models: next, changed: true };
  }

  /**
   * The desired state as of the last `chains()` call: a sync calls `chains()` once and reads every
   * family from that one render, even when a policy event arrives while it is writing (that event
   * re-renders at the next sync, which then compares chains again).
   */
  desired(family: Family): DesiredFamily | undefined {
    const m = this.chainModels.get(family);
    if (!m) return undefined;
    const sets = new Map<string, IpsetType>([...m.sets].map(([n, src]) => [n, setType(src)]));
    return {
      family,
      get chains() {
        return m.chains;
      },
      rules: m.rules,
      sets,
      sources: m.sets,
      policyChains: m.policyChains,
      entries: (n) => this.sets.entries(n),
      unsortedEntries: (n) => this.sets.unsortedEntries(n),
      has: (n, e) => this.sets.has(n, e),
    };
  }

  /** The complete desired state, for tests. */
  model(): Map<Family, FamilyFirewallModel> {
    const { models } = this.chains(); // tests only: renders if needed
    const out = new Map<Family, FamilyFirewallModel>();
    for (const [f, m] of models) {
      const sets = new Map<string, IpsetSpec>();
      for (const [name, source] of m.sets) sets.set(name, { name, type: setType(source), family: f, entries: this.sets.entries(name) });
      out.set(f, { family: f, chains: m.chains, sets });
    }
    return out;
  }
}

export interface FirewallSnapshot {
  readonly node: FirewallNode;
  readonly policies: readonly PolicyInfo[];
  readonly pods: readonly PodInfo[];
  readonly namespaces: readonly NamespaceInfo[];
  readonly clusterPolicies?: readonly ClusterPolicyInfo[];
}

/** The firewall's desired kernel state from a snapshot, computed from scratch (the reference the incremental path must equal). */
export function compute(s: FirewallSnapshot, families: readonly Family[], opts: FirewallOptions): Map<Family, FamilyFirewallModel> {
  return trackerFor(s, families, opts).model();
}

/** A tracker that has seen exactly the snapshot, chains rendered (the from-scratch reference in tests). */
export function trackerFor(s: FirewallSnapshot, families: readonly Family[], opts: FirewallOptions): FirewallTracker {
  const t = new FirewallTracker(s.node.name, families, opts);
  t.setNode(s.node);
  for (const ns of s.namespaces) t.setNamespace(ns.name, ns);
  for (const p of s.pods) t.setPod(`${p.namespace}/${p.name}`, p);
  for (const p of s.policies) t.setPolicy(`${p.namespace}/${p.name}`, p);
  for (const c of s.clusterPolicies ?? []) t.setClusterPolicy(c.name, c);
  t.chains();
  return t;
}
