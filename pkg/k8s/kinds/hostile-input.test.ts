import assert from 'node:assert/strict';
import { parseCommunity } from '../../routing/bgp-plan.js';
import type { CIDR } from '../../util/ip.js';
import { toKubeObject } from '../object.js';
import { parsePolicy } from './network-policy.js';
import { clusterPodCIDRs, nodePodCIDRs, parseNode, podCIDRsOutsideCluster } from './node.js';
import { parsePod } from './pod.js';
import { parseService } from './service.js';

const obj = (v: unknown) => {
  const o = toKubeObject(v);
  assert.ok(o);
  return o;
};

describe('kinds: hostile input is typed strictly', () => {
  it('a /0 pod CIDR is refused; pod CIDRs outside --cluster-cidr are ignored and reported', () => {
    const n = parseNode(obj({ kind: 'Node', metadata: { name: 'n1', annotations: { 'kube-router.io/pod-cidrs': '0.0.0.0/0,198.18.64.0/24,198.20.0.0/24,::/0' } }, status: {} }));
    assert.deepEqual(n.podCIDRs, ['198.18.64.0/24', '198.20.0.0/24']);
    assert.equal(n.problems.filter((p) => p.includes('covers every address')).length, 2);
    const cluster = '198.18.64.0/18' as CIDR;
    assert.deepEqual(nodePodCIDRs(n, cluster), ['198.18.64.0/24']);
    assert.deepEqual(podCIDRsOutsideCluster(n, cluster), ['198.20.0.0/24']);
    assert.deepEqual(clusterPodCIDRs([n], cluster), ['198.18.64.0/18', '198.18.64.0/24']);
  });

  it('keys from outside never reach Object.prototype: a protocol or community named constructor is refused', () => {
    assert.equal(parseCommunity('constructor'), undefined);
    assert.equal(parseCommunity('toString'), undefined);
    assert.equal(parseCommunity('no-export'), 0xffffff01);
    const p = parsePolicy(obj({ kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'p' }, spec: { podSelector: {}, ingress: [{ ports: [{ protocol: 'constructor', port: 80 }] }] } }));
    assert.equal(p.kind, 'policy');
    assert.ok(p.kind === 'policy' && p.problems.some((x) => x.includes('is not TCP, UDP or SCTP')), 'a broken port allows nothing');
    const pod = parsePod(obj({ kind: 'Pod', metadata: { namespace: 'x', name: 'a' }, spec: { containers: [{ ports: [{ name: 'web', containerPort: 80, protocol: '__proto__' }] }] }, status: { podIP: '198.18.64.2' } }));
    assert.deepEqual(pod?.namedPorts, []);
  });

  it('a Service affinity timeout that is not an int32 in range falls back to the default', () => {
    for (const timeoutSeconds of [1.5, 0, -3, 86401, 1e12]) {
      const r = parseService(obj({ kind: 'Service', metadata: { namespace: 'x', name: 's' }, spec: { clusterIP: '198.18.128.9', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds } }, ports: [{ port: 80 }] } }), { serviceClusterIPRanges: ['198.18.128.0/20' as CIDR], serviceExternalIPRanges: [], loadBalancerIPRanges: [], strictExternalIPValidation: true, hairpinMode: false });
      assert.equal(r.kind === 'service' ? r.service.ports[0]?.affinitySeconds : undefined, 10800, String(timeoutSeconds));
    }
  });
});
