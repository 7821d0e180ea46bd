import assert from 'node:assert/strict';
import { parsePolicy } from '../k8s/kinds/network-policy.js';
import { toKubeObject } from '../k8s/object.js';
import type { CIDR } from '../util/ip.js';
import { MAX_RULES_PER_POLICY, policyRuleCount, renderChains } from './model/chains.js';
import type { FirewallOptions } from './model/types.js';

const opts: FirewallOptions = { defaultDeny: false, serviceClusterIPRanges: ['198.18.128.0/20' as CIDR], sctp: true };
const policy = (spec: Record<string, unknown>) => {
  const o = toKubeObject({ kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'big' }, spec });
  assert.ok(o);
  const r = parsePolicy(o);
  assert.equal(r.kind, 'policy');
  return r.policy;
};
const ports = (n: number): unknown[] => Array.from({ length: n }, (_, i) => ({ port: 1000 + i }));

describe('firewall: one hostile policy is one policy (budgets, rules grow with ports)', function () {
  this.timeout(30_000);

  it('13 pod peers × 10,000 ports compiles to one line per port, well under a second (it overflowed the call stack and stopped the firewall)', () => {
    const p = policy({ podSelector: {}, ingress: [{ from: Array.from({ length: 13 }, (_, i) => ({ podSelector: { matchLabels: { app: `a${i}` } } })), ports: ports(10_000) }] });
    const t0 = performance.now();
    const m = renderChains([p], { name: 'n1', podCIDRs: ['198.18.64.0/24' as CIDR] }, opts, 4);
    const ms = performance.now() - t0;
    const lines = [...m.chains.values()].reduce((n, c) => n + c.length, 0);
    assert.ok(lines < 10_100, `${lines} lines`);
    assert.ok(ms < 1000, `${Math.round(ms)} ms`);
    assert.equal(policyRuleCount(p, opts, 4), 10_000);
    assert.equal([...m.sets.values()].filter((s) => s.kind === 'union').length, 1, 'the 13 peers are one list:set');
  });

  it('360 ipBlocks × 360 ports: 360 lines', () => {
    const p = policy({ podSelector: {}, ingress: [{ from: Array.from({ length: 360 }, (_, i) => ({ ipBlock: { cidr: `198.19.${Math.floor(i / 2)}.${(i % 2) * 128}/25` } })), ports: ports(360) }] });
    assert.equal(policyRuleCount(p, opts, 4), 360);
    const m = renderChains([p], { name: 'n1', podCIDRs: ['198.18.64.0/24' as CIDR] }, opts, 4);
    const union = [...m.sets.values()].find((s) => s.kind === 'union');
    assert.equal(union?.kind === 'union' ? union.members.length : 0, 360);
  });

  it('a policy over the budget is measured without compiling all of it', () => {
    // Egress named ports resolve per peer: 200 peers × 200 named ports is 40,000 lines.
    const p = policy({ podSelector: {}, policyTypes: ['Egress'], egress: [{ to: Array.from({ length: 200 }, (_, i) => ({ podSelector: { matchLabels: { app: `a${i}` } } })), ports: Array.from({ length: 200 }, (_, i) => ({ port: `p${i}` })) }] });
    const t0 = performance.now();
    const n = policyRuleCount(p, opts, 4);
    assert.ok(n > MAX_RULES_PER_POLICY, `${n}`);
    assert.ok(performance.now() - t0 < 2000);
  });
});
