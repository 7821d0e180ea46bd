import type { StoreEvent } from '../object.js';
import { asArray, asRecord, asString } from '../../util/json.js';
import { cidrCovers, cidrParts, familyOf, tryParseCIDR, tryParseIP, type CIDR, type Family, type IP } from '../../util/ip.js';
import type { KubeObject } from '../object.js';

export interface NodeInfo {
  readonly name: string;
  readonly internalIPs: readonly IP[];
  readonly externalIPs: readonly IP[];
  /** kube-router.io/pod-cidr, else kube-router.io/pod-cidrs, else spec.podCIDRs / spec.podCIDR. */
  readonly podCIDRs: readonly CIDR[];
  readonly zone?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** Problems met while parsing (a bad annotation), for a log line and a metric. */
  readonly problems: readonly string[];
}

export const ZONE_LABEL = 'topology.kubernetes.io/zone';

export function parseNode(o: KubeObject): NodeInfo {
  const problems: string[] = [];
  const status = asRecord(o.raw['status']);
  const spec = asRecord(o.raw['spec']);
  const internalIPs: IP[] = [];
  const externalIPs: IP[] = [];
  for (const a of asArray(status?.['addresses'])) {
    const r = asRecord(a);
    const ip = tryParseIP(asString(r?.['address']) ?? '');
    if (!ip) continue;
    if (r?.['type'] === 'InternalIP') internalIPs.push(ip);
    else if (r?.['type'] === 'ExternalIP') externalIPs.push(ip);
  }
  const cidrsFrom = (texts: readonly string[], source: string): CIDR[] => {
    const out: CIDR[] = [];
    for (const t of texts) {
      const c = tryParseCIDR(t.trim());
      if (!c) problems.push(`${source}: ${JSON.stringify(t)} is not a CIDR`);
      // A /0 would make every address a pod address (egress sets, masquerade exemptions, routes).
      else if (cidrParts(c).prefix === 0) problems.push(`${source}: ${c} covers every address; a pod CIDR cannot`);
      else out.push(c);
    }
    return out;
  };
  let podCIDRs: CIDR[] = [];
  const single = o.metadata.annotations['kube-router.io/pod-cidr'];
  const multi = o.metadata.annotations['kube-router.io/pod-cidrs'];
  if (single !== undefined) podCIDRs = cidrsFrom([single], 'kube-router.io/pod-cidr');
  if (podCIDRs.length === 0 && multi !== undefined) podCIDRs = cidrsFrom(multi.split(','), 'kube-router.io/pod-cidrs');
  if (podCIDRs.length === 0) {
    const list = asArray(spec?.['podCIDRs']).map((x) => asString(x) ?? '');
    const one = asString(spec?.['podCIDR']);
    podCIDRs = cidrsFrom(list.length > 0 ? list : one ? [one] : [], 'spec.podCIDRs');
  }
  const zone = o.metadata.labels[ZONE_LABEL];
  return { name: o.metadata.name, internalIPs, externalIPs, podCIDRs, ...(zone !== undefined ? { zone } : {}), labels: o.metadata.labels, annotations: o.metadata.annotations, problems };
}

/** Upstream's choice of a node's address for a family: the first InternalIP, else the first ExternalIP. */
export function primaryIP(n: NodeInfo, family: Family): IP | undefined {
  return n.internalIPs.find((ip) => familyOf(ip) === family) ?? n.externalIPs.find((ip) => familyOf(ip) === family);
}

/**
 * The one rule for a node's pod CIDRs: its own (annotation, then spec), or, when it has none, the
 * cluster CIDR (`--cluster-cidr`) so that a node without an allocation still treats pod traffic as such.
 */
export function nodePodCIDRs(n: NodeInfo, clusterCidr: CIDR | undefined): readonly CIDR[] {
  const own = n.podCIDRs.filter((c) => insideCluster(c, clusterCidr));
  return own.length > 0 ? own : clusterCidr ? [clusterCidr] : [];
}

/** A node's pod CIDR is used only inside the cluster CIDR of its family, when one is set. */
function insideCluster(c: CIDR, clusterCidr: CIDR | undefined): boolean {
  return !clusterCidr || familyOf(clusterCidr) !== familyOf(c) || cidrCovers(clusterCidr, c);
}

/** A node's own pod CIDRs that are usable (inside the cluster CIDR when one is set), without the fallback: what it advertises. */
export function ownPodCIDRs(n: NodeInfo, clusterCidr: CIDR | undefined): CIDR[] {
  return n.podCIDRs.filter((c) => insideCluster(c, clusterCidr));
}

/** Pod CIDRs a Node claims outside the cluster CIDR: ignored, and reported. */
export function podCIDRsOutsideCluster(n: NodeInfo, clusterCidr: CIDR | undefined): CIDR[] {
  return n.podCIDRs.filter((c) => !insideCluster(c, clusterCidr));
}

/** Every pod address range of the cluster: each node's pod CIDRs and the cluster CIDR. Sorted, unique. */
export function clusterPodCIDRs(nodes: readonly NodeInfo[], clusterCidr: CIDR | undefined): CIDR[] {
  const all = new Set<CIDR>(nodes.flatMap((n) => n.podCIDRs.filter((c) => insideCluster(c, clusterCidr))));
  if (clusterCidr) all.add(clusterCidr);
  return [...all].sort();
}

/** What the controllers read of a Node (not its conditions or heartbeat times), as one comparable string. */
export function nodeFingerprint(n: NodeInfo): string {
  const sorted = (r: Readonly<Record<string, string>>): [string, string][] => Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([n.name, n.internalIPs, n.externalIPs, n.podCIDRs, n.zone ?? '', sorted(n.labels), sorted(n.annotations)]);
}

/**
 * Whether a Node event can change what a controller computes: an add or delete does; an update only
 * when addresses, pod CIDRs, labels or annotations changed. A kubelet's status updates (conditions,
 * heartbeat times) reach every node of the cluster; they do not cost a sync on each of them.
 */
export function nodeEventMatters(e: StoreEvent): boolean {
  return e.type !== 'update' || nodeFingerprint(parseNode(e.old)) !== nodeFingerprint(parseNode(e.obj));
}
