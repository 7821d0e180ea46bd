import assert from 'node:assert/strict';
import { toKubeObject } from '../k8s/object.js';
import { parseService, type ServiceInfo, type ServiceParseConfig } from '../k8s/kinds/service.js';
import type { CIDR } from '../util/ip.js';
import { servedBy, sliceLocalReady, vipsToAdvertise } from './service-vips.js';
import type { FrontendState } from '../runtime/served-frontends.js';

const cfg: ServiceParseConfig = {
  serviceClusterIPRanges: ['198.18.128.0/20' as CIDR, '2001:db8::/112' as CIDR],
  serviceExternalIPRanges: ['198.19.0.0/24' as CIDR],
  loadBalancerIPRanges: ['198.19.1.0/24' as CIDR],
  strictExternalIPValidation: true,
  hairpinMode: false,
};

function service(name: string, spec: Record<string, unknown>, extra: { annotations?: Record<string, string>; ingress?: unknown[] } = {}): [string, ServiceInfo] {
  const o = toKubeObject({ kind: 'Service', metadata: { namespace: 'default', name, annotations: extra.annotations ?? {} }, spec: { ports: [{ port: 80 }], ...spec }, status: { loadBalancer: { ingress: extra.ingress ?? [] } } });
  assert.ok(o);
  const r = parseService(o, cfg);
  assert.equal(r.kind, 'service');
  return [`default/${name}`, r.service];
}

const all = { clusterIP: true, externalIP: true, loadBalancerIP: true };
const none = { clusterIP: false, externalIP: false, loadBalancerIP: false };

describe('routing: VIPs to advertise come from the Service model the proxy serves', () => {
  it('advertises cluster, external and LoadBalancer IPs by flag', () => {
    const s = service('a', { type: 'LoadBalancer', clusterIP: '198.18.128.10', externalIPs: ['198.19.0.5'] }, { ingress: [{ ip: '198.19.1.7' }] });
    assert.deepEqual(vipsToAdvertise([s], () => false, all).vips, ['198.18.128.10/32', '198.19.0.5/32', '198.19.1.7/32']);
    assert.deepEqual(vipsToAdvertise([s], () => false, none).vips, []);
  });

  it('never announces an address the proxy refuses, whatever the annotation says', () => {
    const ann = { 'kube-router.io/service.advertise.externalip': 'true', 'kube-router.io/service.advertise.loadbalancerip': 'true' };
    const outside = service('outside', { type: 'LoadBalancer', clusterIP: '198.18.128.11', externalIPs: ['198.18.99.1', '198.18.128.99'] }, { annotations: ann, ingress: [{ ip: '198.18.77.7' }, { ip: '198.19.1.8', ipMode: 'Proxy' }] });
    assert.deepEqual(vipsToAdvertise([outside], () => true, none).vips, []);
    const skip = service('skip', { type: 'LoadBalancer', clusterIP: '198.18.128.12' }, { annotations: { ...ann, 'kube-router.io/service.skiplbips': 'true' }, ingress: [{ ip: '198.19.1.9' }] });
    assert.deepEqual(vipsToAdvertise([skip], () => true, all).vips, ['198.18.128.12/32']);
  });

  it('an annotation narrows or widens the flags for its own Service', () => {
    const off = service('off', { clusterIP: '198.18.128.13' }, { annotations: { 'kube-router.io/service.advertise.clusterip': 'false' } });
    const on = service('on', { clusterIP: '198.18.128.14' }, { annotations: { 'kube-router.io/service.advertise.clusterip': 'true' } });
    assert.deepEqual(vipsToAdvertise([off, on], () => false, all).vips, ['198.18.128.14/32']);
    assert.deepEqual(vipsToAdvertise([off, on], () => false, none).vips, ['198.18.128.14/32']);
  });

  it('a Local traffic policy is advertised only while this node has a ready local endpoint', () => {
    const s = service('local', { type: 'LoadBalancer', clusterIP: '198.18.128.15', externalTrafficPolicy: 'Local' }, { ingress: [{ ip: '198.19.1.10' }] });
    assert.deepEqual(vipsToAdvertise([s], () => false, all).vips, ['198.18.128.15/32']);
    assert.deepEqual(vipsToAdvertise([s], (k) => k === 'default/local', all).vips, ['198.18.128.15/32', '198.19.1.10/32']);
  });

  it("an address is advertised only once this node's proxy has committed it: a Local one with an endpoint", () => {
    const lb = service('lb', { type: 'LoadBalancer', clusterIP: '198.18.128.16', externalTrafficPolicy: 'Local', ports: [{ port: 80 }, { port: 443 }] }, { ingress: [{ ip: '198.19.1.11' }] });
    const kernel = new Map<string, FrontendState>();
    const served = servedBy((family, key) => {
      assert.equal(family, 4);
      return kernel.get(key) ?? 'absent';
    }, [4]);
    const local = (): boolean => true;
    // Nothing committed yet: both addresses wait.
    assert.deepEqual(vipsToAdvertise([lb], local, all, served), { vips: [], withheld: 2 });
    // The cluster IP is served even without endpoints (the proxy refuses the connection); the Local LB IP is not.
    kernel.set('198.18.128.16 . tcp . 80', 'no-endpoints');
    kernel.set('198.19.1.11 . tcp . 80', 'no-endpoints');
    assert.deepEqual(vipsToAdvertise([lb], local, all, served), { vips: ['198.18.128.16/32'], withheld: 1 });
    // One port of the Service with its local endpoint committed is enough.
    kernel.set('198.19.1.11 . tcp . 443', 'served');
    assert.deepEqual(vipsToAdvertise([lb], local, all, served), { vips: ['198.18.128.16/32', '198.19.1.11/32'], withheld: 0 });
    // On an IPv4-only node an IPv6 address is not waited for (the proxy never commits it; the speaker sends none).
    const v6 = service('v6', { clusterIP: '198.18.128.17', clusterIPs: ['198.18.128.17', '2001:db8::17'], ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'PreferDualStack' });
    kernel.set('198.18.128.17 . tcp . 80', 'no-endpoints');
    assert.deepEqual(vipsToAdvertise([v6], local, all, served), { vips: ['198.18.128.17/32', '2001:db8::17/128'], withheld: 0 });
  });

  it('reads local readiness from the parsed EndpointSlice', () => {
    const slice = (conditions: Record<string, unknown>, nodeName: string): unknown => ({ kind: 'EndpointSlice', metadata: { namespace: 'default', name: 'x-1', labels: { 'kubernetes.io/service-name': 'x' } }, addressType: 'IPv4', ports: [{ port: 80 }], endpoints: [{ addresses: ['198.18.64.5'], conditions, nodeName }] });
    const read = (v: unknown): ReturnType<typeof sliceLocalReady> => {
      const o = toKubeObject(v);
      assert.ok(o);
      return sliceLocalReady(o, 'node-1');
    };
    assert.deepEqual(read(slice({}, 'node-1')), { service: 'default/x', localReady: true });
    assert.deepEqual(read(slice({ ready: false }, 'node-1')), { service: 'default/x', localReady: false });
    assert.deepEqual(read(slice({ ready: true }, 'node-2')), { service: 'default/x', localReady: false });
  });
});
