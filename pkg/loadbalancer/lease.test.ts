import assert from 'node:assert/strict';
import type { ApiTransport } from '../k8s/transport.js';
import { FakeClock } from '../util/clock.js';
import { LeaseElector, RETRY_MS } from './lease.js';

/** One Lease behind optimistic concurrency, as the API server keeps it: a write with a stale resourceVersion is a 409. */
function leaseApi(): { api: ApiTransport; calls: string[] } {
  let obj: { metadata: { name: string; namespace: string; resourceVersion: string }; spec: unknown } | undefined;
  let rv = 1;
  const calls: string[] = [];
  const api: ApiTransport = {
    server: 'fake',
    list: () => Promise.reject(new Error('not used')),
    watch: () => Promise.reject(new Error('not used')),
    create: () => Promise.reject(new Error('not used')),
    request(method, _path, body) {
      calls.push(method);
      const b = body as { metadata: { name: string; namespace: string; resourceVersion?: string }; spec: unknown } | undefined;
      if (method === 'GET') return Promise.resolve(obj ? { status: 200, body: structuredClone(obj) } : { status: 404, body: {} });
      if (!b) return Promise.resolve({ status: 400, body: {} });
      if (method === 'POST') {
        if (obj) return Promise.resolve({ status: 409, body: {} });
        obj = { metadata: { name: b.metadata.name, namespace: b.metadata.namespace, resourceVersion: String(rv++) }, spec: b.spec };
        return Promise.resolve({ status: 201, body: structuredClone(obj) });
      }
      if (!obj || b.metadata.resourceVersion !== obj.metadata.resourceVersion) return Promise.resolve({ status: 409, body: {} });
      obj = { metadata: { ...obj.metadata, resourceVersion: String(rv++) }, spec: b.spec };
      return Promise.resolve({ status: 200, body: structuredClone(obj) });
    },
  };
  return { api, calls };
}

describe('LoadBalancer allocator lease', function () {
  const lease = (identity: string): { namespace: string; name: string; identity: string } => ({ namespace: 'kube-system', name: 'kube-router-lballoc', identity });

  it('the holder renews with one PUT per try; a standby reads once per try and never leads while the lease is renewed', async () => {
    const clock = new FakeClock();
    const { api, calls } = leaseApi();
    const a = new LeaseElector(api, clock, lease('node-a'));
    const b = new LeaseElector(api, clock, lease('node-b'));
    assert.equal(await a.tryOnce(), true, 'a takes the free lease');
    assert.deepEqual(calls.splice(0), ['GET', 'POST']);
    for (let i = 0; i < 5; i++) {
      clock.advance(RETRY_MS);
      assert.equal(await a.tryOnce(), true);
      assert.deepEqual(calls.splice(0), ['PUT'], 'a renewal is one write, no read');
      assert.equal(await b.tryOnce(), false);
      assert.deepEqual(calls.splice(0), ['GET'], 'a standby only reads');
    }
  });

  it('a standby takes a lease that ran out; the old holder\'s next renewal conflicts, reads, and stops leading', async () => {
    const clock = new FakeClock();
    const { api, calls } = leaseApi();
    const a = new LeaseElector(api, clock, lease('node-a'));
    const b = new LeaseElector(api, clock, lease('node-b'));
    assert.equal(await a.tryOnce(), true);
    // a stalls for longer than the lease (15 s): b takes over.
    clock.advance(16_000);
    assert.equal(await b.tryOnce(), true, 'b takes the lease that ran out');
    calls.splice(0);
    assert.equal(await a.tryOnce(), false, 'a learns it lost the lease');
    assert.deepEqual(calls.splice(0), ['PUT', 'GET'], 'its stale write conflicts, then it reads');
    clock.advance(RETRY_MS);
    assert.equal(await b.tryOnce(), true, 'b goes on renewing');
    assert.equal(await a.tryOnce(), false);
  });
});
