import assert from 'node:assert/strict';
import fc from 'fast-check';
import { toKubeObject, type KubeObject } from '../object.js';
import { parseClusterNetworkPolicy } from './cluster-network-policy.js';

const kube = (spec: unknown): KubeObject => toKubeObject({ apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: 'p' }, spec }) as KubeObject;
const ok = { tier: 'Admin', priority: 10, subject: { namespaces: {} }, ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }] };

describe('ClusterNetworkPolicy (v1alpha2) parser', () => {
  it('a valid policy: tier, priority, subject, rules with their actions, peers and ports', () => {
    const r = parseClusterNetworkPolicy(
      kube({
        tier: 'Baseline',
        priority: 0,
        subject: { pods: { namespaceSelector: { matchLabels: { team: 'a' } }, podSelector: {} } },
        egress: [{ name: 'dns', action: 'Accept', to: [{ networks: ['198.18.0.0/16'] }, { namespaces: {} }], protocols: [{ udp: { destinationPort: { number: 53 } } }, { tcp: { destinationPort: { range: { start: 8000, end: 8100 } } } }] }],
        ingress: [{ action: 'Pass', from: [{ pods: { namespaceSelector: {}, podSelector: { matchLabels: { app: 'x' } } } }], protocols: [{ destinationNamedPort: 'web' }] }],
      }),
    );
    assert.equal(r.kind, 'policy');
    if (r.kind !== 'policy') return;
    assert.equal(r.policy.tier, 'Baseline');
    assert.equal(r.policy.egress[0]?.peers.length, 2);
    assert.deepEqual(r.policy.egress[0]?.ports, [{ kind: 'number', protocol: 'udp', port: 53 }, { kind: 'number', protocol: 'tcp', port: 8000, endPort: 8100 }]);
    assert.deepEqual(r.policy.ingress[0]?.ports, ['tcp', 'udp', 'sctp'].map((protocol) => ({ kind: 'named', protocol, name: 'web' })), 'a named port stands for that name under any protocol');
    assert.equal(r.policy.ingress[0]?.action, 'Pass');
  });

  const invalid: [string, unknown, RegExp][] = [
    ['no spec', undefined, /spec is missing/],
    ['unknown tier', { ...ok, tier: 'Cluster' }, /spec.tier/],
    ['priority out of range', { ...ok, priority: 1001 }, /spec.priority/],
    ['fractional priority', { ...ok, priority: 1.5 }, /spec.priority/],
    ['no subject', { ...ok, subject: undefined }, /spec.subject is required/],
    ['two subjects', { ...ok, subject: { namespaces: {}, pods: { namespaceSelector: {}, podSelector: {} } } }, /exactly one of namespaces, pods/],
    ['unknown action', { ...ok, ingress: [{ action: 'Allow', from: [{ namespaces: {} }] }] }, /action: "Allow"/],
    ['empty from', { ...ok, ingress: [{ action: 'Deny', from: [] }] }, /at least one peer/],
    ['networks on ingress', { ...ok, ingress: [{ action: 'Deny', from: [{ networks: ['198.18.0.0/16'] }] }] }, /networks is not supported/],
    ['nodes peer (not judged by this firewall)', { ...ok, ingress: undefined, egress: [{ action: 'Deny', to: [{ nodes: {} }] }] }, /nodes is not supported/],
    ['domainNames peer', { ...ok, ingress: undefined, egress: [{ action: 'Deny', to: [{ domainNames: ['example.com'] }] }] }, /domainNames is not supported/],
    ['bad network', { ...ok, ingress: undefined, egress: [{ action: 'Deny', to: [{ networks: ['198.18.0.0'] }] }] }, /is not a CIDR/],
    ['protocol without a port', { ...ok, ingress: [{ action: 'Deny', from: [{ namespaces: {} }], protocols: [{ udp: {} }] }] }, /destinationPort is required/],
    ['port range backwards', { ...ok, ingress: [{ action: 'Deny', from: [{ namespaces: {} }], protocols: [{ tcp: { destinationPort: { range: { start: 90, end: 80 } } } }] }] }, /start ≤ end/],
    ['port 0', { ...ok, ingress: [{ action: 'Deny', from: [{ namespaces: {} }], protocols: [{ tcp: { destinationPort: { number: 0 } } }] }] }, /is not a port/],
    ['named port with networks', { ...ok, ingress: undefined, egress: [{ action: 'Deny', to: [{ networks: ['198.18.0.0/16'] }], protocols: [{ destinationNamedPort: 'web' }] }] }, /named port cannot go with a networks peer/],
    ['26 rules', { ...ok, ingress: Array.from({ length: 26 }, () => ({ action: 'Deny', from: [{ namespaces: {} }] })) }, /more than 25 rules/],
    ['bad selector', { ...ok, subject: { namespaces: { matchExpressions: [{ key: 'a', operator: 'Sometimes' }] } } }, /operator/],
  ];
  for (const [what, spec, reason] of invalid) {
    it(`refused whole, with the reason: ${what}`, () => {
      const r = parseClusterNetworkPolicy(kube(spec));
      assert.equal(r.kind, 'rejected');
      if (r.kind === 'rejected') assert.match(r.reason, reason);
    });
  }

  it('hostile input: any JSON as the spec, or in any field of a valid one, is a policy or a refusal, never an exception', () => {
    const json = fc.jsonValue({ maxDepth: 5 });
    fc.assert(
      fc.property(json, (spec) => {
        const r = parseClusterNetworkPolicy(kube(spec));
        assert.ok(r.kind === 'policy' || r.kind === 'rejected');
      }),
      { numRuns: 2000 },
    );
    const fields = ['tier', 'priority', 'subject', 'ingress', 'egress'] as const;
    fc.assert(
      fc.property(fc.constantFrom(...fields), json, (field, value) => {
        const r = parseClusterNetworkPolicy(kube({ ...ok, egress: [{ action: 'Accept', to: [{ networks: ['198.18.0.0/16'] }], protocols: [{ tcp: { destinationPort: { number: 80 } } }] }], [field]: value }));
        assert.ok(r.kind === 'policy' || r.kind === 'rejected');
      }),
      { numRuns: 2000 },
    );
  });
});
