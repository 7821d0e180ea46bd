import assert from 'node:assert/strict';
import { toKubeObject, type KubeObject } from '../k8s/object.js';
import { parseClusterNetworkPolicy } from '../k8s/kinds/cluster-network-policy.js';
import { parseNamespace } from '../k8s/kinds/namespace.js';
import { parsePolicy } from '../k8s/kinds/network-policy.js';
import { parsePod } from '../k8s/kinds/pod.js';
import type { CIDR } from '../util/ip.js';
import { FirewallTracker } from './model/tracker.js';

export const kube = (raw: Record<string, unknown>): KubeObject => toKubeObject(raw) as KubeObject;

export const pod = (ns: string, name: string, ips: string[], labels: Record<string, string>, node = 'n1'): KubeObject =>
  kube({ metadata: { namespace: ns, name, labels }, spec: { nodeName: node, containers: [{ ports: [{ name: 'web', containerPort: 8080 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }] }] }, status: { phase: 'Running', podIPs: ips.map((ip) => ({ ip })) } });

const POLICIES = [
  { metadata: { namespace: 'x', name: 'p1' }, spec: { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }, { podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b'] }] } }, { ipBlock: { cidr: '198.18.32.0/20', except: ['198.18.33.0/24', '198.18.40.7/32'] } }], ports: [{ port: 'web' }, { protocol: 'UDP', port: 53 }, { port: 9000, endPort: 9100 }, { protocol: 'SCTP', port: 7 }] }] } },
  { metadata: { namespace: 'x', name: 'p2' }, spec: { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['198.18.9.0/24'] } }, { ipBlock: { cidr: '2001:db8::/32', except: ['2001:db8:9::/48'] } }] }, { ports: [{ port: 'dns', protocol: 'UDP' }] }] } },
];

/** Cluster policies in both tiers: guards, ranges, named ports, networks, both directions. */
const CLUSTER_POLICIES = [
  { metadata: { name: 'admin' }, spec: { tier: 'Admin', priority: 3, subject: { namespaces: { matchLabels: { ns: 'x' } } }, ingress: [{ action: 'Deny', from: [{ namespaces: { matchLabels: { ns: 'y' } } }], protocols: [{ tcp: { destinationPort: { range: { start: 8000, end: 8100 } } } }, { destinationNamedPort: 'web' }] }, { action: 'Pass', from: [{ pods: { namespaceSelector: {}, podSelector: { matchLabels: { pod: 'a' } } } }] }], egress: [{ action: 'Accept', to: [{ networks: ['198.18.9.0/24', '2001:db8:9::/48'] }, { namespaces: {} }], protocols: [{ udp: { destinationPort: { number: 53 } } }] }] } },
  { metadata: { name: 'baseline' }, spec: { tier: 'Baseline', priority: 1, subject: { pods: { namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } } }, ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }] } },
];

/**
 * The world both firewall backends' kernel tests program: node n1 (dual-stack pod CIDRs), namespaces
 * x and y, two local pods and a remote one, NetworkPolicies with every peer and port shape (named,
 * ranges, SCTP, ipBlocks with excepts in both families) and cluster policies of both tiers.
 */
export function kernelTestTracker(): FirewallTracker {
  const t = new FirewallTracker('n1', [4, 6], { defaultDeny: true, serviceClusterIPRanges: ['198.18.128.0/20' as CIDR], sctp: true });
  t.setNode({ name: 'n1', podCIDRs: ['198.18.64.0/24' as CIDR, '2001:db8:64::/64' as CIDR] });
  for (const n of ['x', 'y']) t.setNamespace(n, parseNamespace(kube({ metadata: { name: n, labels: { ns: n } } })));
  t.setPod('x/a', parsePod(pod('x', 'a', ['198.18.64.11', '2001:db8:64::11'], { pod: 'a' })));
  t.setPod('x/b', parsePod(pod('x', 'b', ['198.18.64.12', '2001:db8:64::12'], { pod: 'b' })));
  t.setPod('y/a', parsePod(pod('y', 'a', ['198.18.65.11', '2001:db8:65::11'], { pod: 'a' }, 'n2')));
  for (const raw of POLICIES) {
    const r = parsePolicy(kube(raw));
    assert.equal(r.kind, 'policy');
    if (r.kind === 'policy') t.setPolicy(`x/${raw.metadata.name}`, r.policy);
  }
  for (const raw of CLUSTER_POLICIES) {
    const c = parseClusterNetworkPolicy(kube(raw));
    assert.equal(c.kind, 'policy', JSON.stringify(c));
    if (c.kind === 'policy') t.setClusterPolicy(c.policy.name, c.policy);
  }
  return t;
}
