import type { NodeInfo } from '../k8s/kinds/node.js';
import { clusterPodCIDRs, primaryIP } from '../k8s/kinds/node.js';
import { familyOf, type CIDR, type Family, type IP } from '../util/ip.js';
import type { NodeContext } from './model/types.js';

/**
 * Pure: this node's view for the proxy. NodePorts are served on the node's primary IP per family
 * (upstream), or on every local address with --nodeport-bindon-all-ip.
 */
export function buildNodeContext(nodeName: string, nodes: readonly NodeInfo[], localIPs: readonly IP[], families: readonly Family[], opts: { bindOnAllIP: boolean; clusterCidr?: CIDR }): NodeContext {
  const self = nodes.find((n) => n.name === nodeName);
  const nodePortIPs: Record<Family, IP[]> = { 4: [], 6: [] };
  const primaryIPs: Partial<Record<Family, IP>> = {};
  for (const f of families) {
    const p = self ? primaryIP(self, f) : undefined;
    if (p) primaryIPs[f] = p;
    if (opts.bindOnAllIP) nodePortIPs[f] = localIPs.filter((ip) => familyOf(ip) === f && !ip.startsWith('127.') && ip !== '::1' && !ip.startsWith('fe80:'));
    else if (p) nodePortIPs[f] = [p];
  }
  return {
    name: nodeName,
    ...(self?.zone !== undefined ? { zone: self.zone } : {}),
    nodePortIPs,
    podCIDRs: clusterPodCIDRs(nodes, opts.clusterCidr),
    localIPs: [...localIPs].sort(),
    primaryIPs,
  };
}

export function sameNodeContext(a: NodeContext | undefined, b: NodeContext): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}
