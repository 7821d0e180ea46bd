import assert from 'node:assert/strict';
import type { CIDR, IP } from '../util/ip.js';
import { LeaseElector, leaseExpired } from './lease.js';
import { planLoadBalancers, type LbService } from './plan.js';
import { parseLoadBalancerRequest } from '../k8s/kinds/service.js';
import { toKubeObject, type KubeObject } from '../k8s/object.js';
import { FakeClock } from '../util/clock.js';
import type { ApiTransport } from '../k8s/transport.js';

const svc = (key: string, o: Partial<LbService> = {}): LbService => ({ key, isLoadBalancer: true, families: [4], requested: [], ingress: [], ...o });
const R4 = ['198.19.1.0/29' as CIDR];

describe('LoadBalancer allocator: the plan (pure)', () => {
  it('the lowest free address of the range, never the first or last of an IPv4 prefix, never one a Service already has', () => {
    const p = planLoadBalancers([svc('a/x', { ingress: ['198.19.1.1' as IP] }), svc('b/y'), svc('c/z')], R4, true);
    assert.deepEqual([...p.assign], [['b/y', ['198.19.1.2']], ['c/z', ['198.19.1.3']]]);
  });

  it('a requested address when it is free and in range; otherwise the next free one', () => {
    const p = planLoadBalancers([svc('a/x', { requested: ['198.19.1.5' as IP] }), svc('b/y', { requested: ['198.19.9.9' as IP] })], R4, true);
    assert.deepEqual([...p.assign], [['a/x', ['198.19.1.5']], ['b/y', ['198.19.1.1']]]);
  });

  it('dual-stack: one address per family of the Service, from the ranges of that family', () => {
    const p = planLoadBalancers([svc('a/x', { families: [4, 6] })], ['198.19.1.0/29' as CIDR, '2001:db8:19::/126' as CIDR], true);
    assert.deepEqual(p.assign.get('a/x'), ['198.19.1.1', '2001:db8:19::']);
  });

  it('classes as upstream: none only with the default-class flag, kube-router and default always, others never', () => {
    const all = [svc('a/none'), svc('b/ours', { loadBalancerClass: 'kube-router' }), svc('c/default', { loadBalancerClass: 'default' }), svc('d/other', { loadBalancerClass: 'example.com/lb' })];
    assert.deepEqual([...planLoadBalancers(all, R4, true).assign.keys()], ['a/none', 'b/ours', 'c/default']);
    assert.deepEqual([...planLoadBalancers(all, R4, false).assign.keys()], ['b/ours', 'c/default']);
  });

  it('exhaustion is reported per Service and family; a Service that is no longer a LoadBalancer releases our address', () => {
    const full = Array.from({ length: 6 }, (_, i) => svc(`a/s${i}`, { ingress: [`198.19.1.${i + 1}` as IP] }));
    const p = planLoadBalancers([...full, svc('b/late'), svc('c/was', { isLoadBalancer: false, ingress: ['198.19.1.6' as IP] })], R4, true);
    assert.deepEqual(p.exhausted, [{ key: 'b/late', family: 4 }]);
    assert.deepEqual(p.release, ['c/was']);
    assert.equal(p.assign.size, 0);
  });

  it('reads the Service object: ipFamilies, loadBalancerIP, class, the ingress addresses', () => {
    const o = toKubeObject({ metadata: { namespace: 'a', name: 'x' }, spec: { type: 'LoadBalancer', ipFamilies: ['IPv6', 'IPv4'], loadBalancerIP: '198.19.1.4', loadBalancerClass: 'kube-router' }, status: { loadBalancer: { ingress: [{ ip: '2001:db8:19::1' }, { hostname: 'x' }] } } }) as KubeObject;
    const s = parseLoadBalancerRequest(o);
    assert.deepEqual(s, { key: 'a/x', isLoadBalancer: true, loadBalancerClass: 'kube-router', families: [6, 4], requested: ['198.19.1.4'], ingress: ['2001:db8:19::1'] });
  });
});

describe('LoadBalancer allocator: leader election on a Lease', () => {
  /** A Lease store with resourceVersions, as the API server keeps one. */
  function leaseApi(): { api: ApiTransport; lease: () => Record<string, unknown> | undefined; fail: (on: boolean) => void } {
    let stored: Record<string, unknown> | undefined;
    let rv = 0;
    let failing = false;
    const request: ApiTransport['request'] = (method, _path, body) => {
      if (failing) return Promise.reject(new Error('connection refused'));
      const b = body as { metadata?: Record<string, unknown> } | undefined;
      if (method === 'GET') return Promise.resolve(stored ? { status: 200, body: stored } : { status: 404, body: {} });
      if (method === 'POST') {
        if (stored) return Promise.resolve({ status: 409, body: {} });
        stored = { ...b, metadata: { ...b?.metadata, resourceVersion: String(++rv) } };
        return Promise.resolve({ status: 201, body: stored });
      }
      if (String((stored?.['metadata'] as Record<string, unknown>)['resourceVersion']) !== String(b?.metadata?.['resourceVersion'])) return Promise.resolve({ status: 409, body: {} });
      stored = { ...b, metadata: { ...b?.metadata, resourceVersion: String(++rv) } };
      return Promise.resolve({ status: 200, body: stored });
    };
    const unused = (): never => {
      throw new Error('not used');
    };
    return { api: { server: 'fake', list: unused, watch: unused, create: unused, request }, lease: () => stored, fail: (on) => (failing = on) };
  }

  it('one leader; the other takes over once the leader stops renewing for longer than the lease', async () => {
    const clock = new FakeClock(Date.parse('2026-12-02T10:00:00Z'));
    const { api, lease } = leaseApi();
    const a = new LeaseElector(api, clock, { namespace: 'kube-system', name: 'kube-router-lballoc', identity: 'kr-a' });
    const b = new LeaseElector(api, clock, { namespace: 'kube-system', name: 'kube-router-lballoc', identity: 'kr-b' });
    assert.equal(await a.tryOnce(), true);
    assert.equal(await b.tryOnce(), false);
    clock.advance(10_000);
    assert.equal(await a.tryOnce(), true, 'renews');
    clock.advance(14_000);
    assert.equal(await b.tryOnce(), false, 'the renewed lease has not run out');
    clock.advance(2_000); // a is gone: 16 s since its last renewal
    assert.equal(await b.tryOnce(), true);
    assert.equal((lease()?.['spec'] as Record<string, unknown>)['leaseTransitions'], 1);
    assert.equal(await a.tryOnce(), false, 'the old leader sees another holder and stops at once');
  });

  it('a leader that cannot reach the API stops leading after the renew deadline, before its lease runs out for others', async () => {
    const clock = new FakeClock(Date.parse('2026-12-02T10:00:00Z'));
    const { api, fail } = leaseApi();
    const a = new LeaseElector(api, clock, { namespace: 'kube-system', name: 'kube-router-lballoc', identity: 'kr-a' });
    assert.equal(await a.tryOnce(), true);
    fail(true);
    clock.advance(8_000);
    assert.equal(await a.tryOnce(), true, 'within the 10 s renew deadline');
    clock.advance(3_000);
    assert.equal(await a.tryOnce(), false, 'past it');
    assert.equal(leaseExpired({ holderIdentity: 'kr-a', leaseDurationSeconds: 15, renewTime: '2026-12-02T10:00:00.000000Z' }, Date.parse('2026-12-02T10:00:11Z')), false, 'others still wait: no two leaders');
  });
});
