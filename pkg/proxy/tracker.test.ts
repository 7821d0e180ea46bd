import assert from 'node:assert/strict';
import { parseService, type ServiceInfo } from '../k8s/kinds/service.js';
import { toKubeObject } from '../k8s/object.js';
import type { CIDR, IP } from '../util/ip.js';
import type { NodeContext } from './model/types.js';
import { ServiceTracker } from './tracker.js';

describe('proxy: one Service that cannot be computed is one Service', () => {
  it('is not served and reported; every other Service is computed as usual', () => {
    const node: NodeContext = { name: 'n1', nodePortIPs: { 4: ['198.18.0.10' as IP], 6: [] }, podCIDRs: ['198.18.64.0/24' as CIDR], localIPs: ['198.18.0.10' as IP], primaryIPs: { 4: '198.18.0.10' as IP } };
    const o = toKubeObject({ kind: 'Service', metadata: { namespace: 'x', name: 'good' }, spec: { clusterIP: '198.18.128.10', ports: [{ port: 80 }] } });
    assert.ok(o);
    const good = parseService(o, { serviceClusterIPRanges: ['198.18.128.0/20' as CIDR], serviceExternalIPRanges: [], loadBalancerIPRanges: [], strictExternalIPValidation: true, hairpinMode: false });
    assert.equal(good.kind, 'service');
    // A Service whose ports explode when read stands for any fault inside the per-Service compute.
    const bad = { ...(good.kind === 'service' ? good.service : ({} as ServiceInfo)), name: 'bad', get ports(): never {
      throw new Error('boom');
    } } as ServiceInfo;
    const t = new ServiceTracker([4]);
    t.setService('x/bad', bad);
    if (good.kind === 'service') t.setService('x/good', good.service);
    const r = t.recompute(node);
    assert.deepEqual(r.failures.map((f) => f.service), ['x/bad']);
    assert.deepEqual([...t.model(4, node).frontends.keys()], ['198.18.128.10 . tcp . 80']);
  });
});
