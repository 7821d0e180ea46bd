import assert from 'node:assert/strict';
import { FakeCluster } from './fake-cluster.test-support.js';
import { CNP_SCENARIOS, expectedMatrix, formatMatrix, mismatches, probeKey, SCENARIOS } from './conformance.test-support.js';

for (const kind of ['iptables', 'nftables'] as const)
describe(`firewall conformance on kernel fakes, ${kind} backend (packet evaluator, two nodes)`, () => {
  for (const sc of [...SCENARIOS, ...CNP_SCENARIOS.map((c) => ({ ...c, name: `ClusterNetworkPolicy: ${c.name}` }))]) {
    it(sc.name, async () => {
      const c = new FakeCluster(kind);
      for (const n of c.nodes) await n.sync(true);
      const check = (when: string): void => {
        const want = expectedMatrix(c.world);
        const got = c.matrix();
        const bad = mismatches(got, want);
        assert.deepEqual(bad, [], `${when}\n${formatMatrix(c.world, got, want)}\n${bad.slice(0, 10).join('\n')}`);
        c.assertMatchesFreshCompute();
      };
      check('before any step');
      let clusterPoliciesMattered = false;
      for (const [i, s] of sc.steps.entries()) {
        await c.step(s);
        check(`after step ${i + 1} (${s.kind})`);
        const without = expectedMatrix({ ...c.world, clusterPolicies: new Map() });
        if ([...expectedMatrix(c.world)].some(([k, v]) => without.get(k) !== v)) clusterPoliciesMattered = true;
      }
      // Not vacuous: in a cluster policy scenario the same world without them differs at some step.
      if (sc.steps.some((s) => s.kind === 'apply-cluster-policy')) assert.ok(clusterPoliciesMattered, 'the cluster policies changed some probe');
      // A full resync afterwards finds nothing to write.
      for (const n of c.nodes) assert.equal(await n.sync(true), 0, `${n.spec.name}: a full resync wrote something`);
    });
  }

  it('the reference semantics themselves: hand-checked cells', () => {
    const c = new FakeCluster(kind);
    const w = c.world;
    w.policies.set('x/from-y', { metadata: { namespace: 'x', name: 'from-y' }, spec: { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] } });
    const m = expectedMatrix(w);
    assert.equal(m.get(probeKey('y/b', 'x/a', 80, 'TCP')), true);
    assert.equal(m.get(probeKey('z/b', 'x/a', 80, 'TCP')), false);
    assert.equal(m.get(probeKey('x/b', 'x/a', 81, 'UDP')), false);
    assert.equal(m.get(probeKey('z/b', 'x/b', 80, 'TCP')), true);
    w.policies.set('x/named', { metadata: { namespace: 'x', name: 'named' }, spec: { podSelector: {}, ingress: [{ ports: [{ port: 'web' }] }] } });
    const n = expectedMatrix(w);
    assert.equal(n.get(probeKey('z/b', 'x/c', 81, 'TCP')), true);
    assert.equal(n.get(probeKey('z/b', 'x/c', 80, 'TCP')), false);
    assert.equal(n.get(probeKey('z/b', 'x/b', 80, 'TCP')), true);
  });
});
