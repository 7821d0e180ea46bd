import assert from 'node:assert/strict';
import { fabricPrefixes, makePlan, nodeIP, spareFabricIPs } from './plan.js';

describe('lab address plan', () => {
  it('--fabric-cidr moves the fabric (and the second segment after it); anything outside 198.18.0.0/18 is refused', () => {
    const p = makePlan('x', 3, 2, false, '198.18.4.0/24');
    assert.deepEqual(p.segments.map((s) => s.cidr), ['198.18.4.0/24', '198.18.5.0/24']);
    assert.deepEqual([0, 1, 2].map((i) => nodeIP(p, i)), ['198.18.4.11', '198.18.4.12', '198.18.5.13']);
    assert.equal(p.apiIP, '198.18.4.2');
    assert.equal(p.externalIP, '198.18.4.3');
    assert.deepEqual(spareFabricIPs(p), ['198.18.4.200', '198.18.4.201', '198.18.4.202']);
    for (const bad of ['10.0.0.0/24', '198.18.64.0/24', '198.18.4.0/23', '198.18.4.1/24']) assert.ok(!Array.isArray(fabricPrefixes(bad, 1)), bad);
    assert.ok(!Array.isArray(fabricPrefixes('198.18.63.0/24', 2)), 'the second segment would leave the range');
    assert.deepEqual(fabricPrefixes('198.18.63.0/24', 1), ['198.18.63']);
  });
});
