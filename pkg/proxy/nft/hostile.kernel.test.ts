import assert from 'node:assert/strict';
import fc from 'fast-check';
import { throwawayNetns, type ThrowawayNetns } from '../../../test/throwaway-netns.js';
import { parseEndpointSlice } from '../../k8s/kinds/endpoint-slice.js';
import { parseService } from '../../k8s/kinds/service.js';
import { toKubeObject } from '../../k8s/object.js';
import type { CIDR, IP } from '../../util/ip.js';
import type { RenderContext } from '../backend.js';
import type { NodeContext } from '../model/types.js';
import { ServiceTracker } from '../tracker.js';
import { renderFull } from './render.js';

const ctx: RenderContext = { opts: { masqueradeAll: false, rejectUnserved: true }, isLocal: (a) => a === '198.18.0.10' };
const node: NodeContext = { name: 'n1', nodePortIPs: { 4: ['198.18.0.10' as IP], 6: [] }, podCIDRs: ['198.18.64.0/24' as CIDR], localIPs: ['198.18.0.10' as IP], primaryIPs: { 4: '198.18.0.10' as IP } };
const parseCfg = { serviceClusterIPRanges: ['198.18.128.0/20' as CIDR], serviceExternalIPRanges: ['198.19.0.0/24' as CIDR], loadBalancerIPRanges: ['198.19.1.0/24' as CIDR], strictExternalIPValidation: true, hairpinMode: false };

/** Text the API server accepts in string fields, plus the nasty ones (prototype keys, separators, nft syntax). */
const nasty = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('constructor', '__proto__', 'toString', '; flush ruleset', '"', '{}', 'tcp . 80', '0', '-1', '1e9', 'ClientIP', 'Local', 'Cluster', 'rr', 'mh', 'flag-1,flag-2'));
const ip = fc.oneof(fc.ipV4(), fc.constantFrom('198.18.128.10', '198.19.0.5', '198.19.1.7', '2001:db8::1', 'None', ''));
const port = fc.oneof(fc.integer({ min: -5, max: 70_000 }), fc.constantFrom('http', '80', 80.5));
const serviceArb = fc.record({
  type: fc.constantFrom('ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName', 'Weird'),
  clusterIP: ip,
  externalIPs: fc.array(ip, { maxLength: 3 }),
  ports: fc.array(fc.record({ name: fc.constantFrom('a', 'b', ''), port, nodePort: port, protocol: fc.oneof(fc.constantFrom('TCP', 'UDP', 'SCTP'), nasty), targetPort: port }), { maxLength: 4 }),
  affinity: fc.constantFrom('None', 'ClientIP', 'Weird'),
  timeout: fc.oneof(fc.integer({ min: -10, max: 200_000 }), fc.double({ noNaN: true, min: -1, max: 1e6 })),
  etp: fc.oneof(fc.constantFrom('Local', 'Cluster'), nasty),
  itp: fc.oneof(fc.constantFrom('Local', 'Cluster'), nasty),
  ingress: fc.array(fc.record({ ip, ipMode: fc.constantFrom(undefined, 'VIP', 'Proxy') }), { maxLength: 2 }),
  annotations: fc.dictionary(fc.constantFrom('kube-router.io/service.scheduler', 'kube-router.io/service.schedflags', 'kube-router.io/service.hairpin', 'kube-router.io/service.local', 'kube-router.io/service.skiplbips', 'kube-router.io/service.advertise.externalip', 'other'), nasty),
  endpoints: fc.array(fc.record({ address: ip, ready: fc.constantFrom(true, false, undefined), node: fc.constantFrom('n1', 'n2', undefined) }), { maxLength: 5 }),
  slicePorts: fc.array(fc.record({ name: fc.constantFrom('a', 'b', ''), port, protocol: fc.oneof(fc.constantFrom('TCP', 'UDP'), nasty) }), { maxLength: 3 }),
});

describe('proxy: hostile Services never break the nftables transaction (property, real nft -c)', function () {
  this.timeout(300_000);
  let ns: ThrowawayNetns;
  before(async () => {
    ns = await throwawayNetns();
  });
  after(async () => {
    await ns.remove();
  });

  it('any Services and EndpointSlices the API accepts (and worse) render to a transaction nft accepts, or are refused one by one', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(serviceArb, { minLength: 1, maxLength: 6 }), async (drawn) => {
        const t = new ServiceTracker([4]);
        drawn.forEach((d, i) => {
          const svc = toKubeObject({ kind: 'Service', metadata: { namespace: 'x', name: `s${i}`, annotations: d.annotations }, spec: { type: d.type, clusterIP: d.clusterIP, externalIPs: d.externalIPs, ports: d.ports, sessionAffinity: d.affinity, sessionAffinityConfig: { clientIP: { timeoutSeconds: d.timeout } }, externalTrafficPolicy: d.etp, internalTrafficPolicy: d.itp }, status: { loadBalancer: { ingress: d.ingress } } });
          assert.ok(svc);
          const r = parseService(svc, parseCfg);
          if (r.kind === 'service') t.setService(`x/s${i}`, r.service);
          const slice = toKubeObject({ kind: 'EndpointSlice', metadata: { namespace: 'x', name: `s${i}-1`, labels: { 'kubernetes.io/service-name': `s${i}` } }, addressType: 'IPv4', ports: d.slicePorts, endpoints: d.endpoints.map((e) => ({ addresses: [e.address], conditions: e.ready === undefined ? {} : { ready: e.ready }, ...(e.node ? { nodeName: e.node } : {}) })) });
          assert.ok(slice);
          const s = parseEndpointSlice(slice);
          if (s.kind === 'slice') t.setSlice(`x/s${i}-1`, s.slice);
        });
        t.recompute(node);
        const script = renderFull(t.model(4, node), ctx).script;
        const r = await ns.exec.run(['nft', '-c', '-f', '-'], { stdin: script }).then(
          () => 'ok',
          (e: unknown) => String(e),
        );
        assert.equal(r, 'ok', script);
      }),
      { numRuns: 40, seed: 2024, endOnFailure: true },
    );
  });
});
