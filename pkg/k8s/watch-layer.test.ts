import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { ApiServerFixture } from '../../fixture/apiserver/index.js';
import { resourceByKind } from '../../fixture/apiserver/resources.js';
import { systemClock } from '../util/clock.js';
import { memoryLogger } from '../util/logger.js';
import type { StoreEvent } from './object.js';
import { KubeTransport } from './transport.js';
import { WatchLayer } from './watch-layer.js';

const svcType = resourceByKind('Service')!;

function svc(name: string, port = 80, ns = 'default'): Record<string, unknown> {
  return { metadata: { name, namespace: ns, labels: { app: name } }, spec: { clusterIP: '198.18.100.1', ports: [{ port, protocol: 'TCP' }] } };
}

async function until(cond: () => boolean, what: string, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function kcOf(api: ApiServerFixture): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig());
  return kc;
}

describe('watch layer against the API server fixture (client-node transport)', function () {
  let api: ApiServerFixture;
  let layer: WatchLayer;
  let events: StoreEvent[];

  beforeEach(async () => {
    api = new ApiServerFixture({ bookmarkIntervalMs: 200 });
    await api.start();
    const kc = new KubeConfig();
    kc.loadFromString(api.kubeconfig());
    layer = new WatchLayer({ transport: new KubeTransport(kc), clock: systemClock(), logger: memoryLogger(0).logger, reflector: { backoffInitialMs: 50, backoffMaxMs: 200 } });
    events = [];
  });
  afterEach(async () => {
    await layer.stop();
    await api.stop();
  });

  it('lists, syncs, then delivers add / update with the old object / delete', async () => {
    api.store.create(svcType, 'default', svc('a'));
    const v = layer.views('services');
    v.services.subscribe((e) => events.push(e));
    layer.start();
    await layer.waitForSync(5000);
    assert.equal(v.services.list().length, 1);
    assert.equal(events[0]?.type, 'add');
    const cur = api.store.get(svcType, 'default', 'a')!;
    api.store.update(svcType, 'default', { ...cur, spec: { clusterIP: '198.18.100.1', ports: [{ port: 81 }] } });
    api.store.delete(svcType, 'default', 'a');
    await until(() => events.length === 3, 'update and delete');
    const upd = events[1];
    assert.ok(upd?.type === 'update');
    assert.deepEqual((upd.old.raw['spec'] as { ports: { port: number }[] }).ports[0]?.port, 80);
    assert.deepEqual((upd.obj.raw['spec'] as { ports: { port: number }[] }).ports[0]?.port, 81);
    assert.equal(events[2]?.type, 'delete');
    assert.equal(v.services.get('default/a'), undefined);
  });

  it('a resource the API does not serve (a CRD not installed) is empty and synced, never an error, and does not hold up the others', async () => {
    const { logger, lines } = memoryLogger(0);
    const l2 = new WatchLayer({ transport: new KubeTransport(kcOf(api)), clock: systemClock(), logger, reflector: { backoffInitialMs: 50, backoffMaxMs: 200 } });
    const v = l2.views('services', 'clusterNetworkPolicies');
    l2.start();
    try {
      await l2.waitForSync(3000);
      assert.equal(v.clusterNetworkPolicies.list().length, 0);
      assert.ok(v.clusterNetworkPolicies.synced());
      assert.ok(lines.some((x) => x.includes('resource not served by the API')), lines.join('\n'));
      assert.ok(!lines.some((x) => x.includes('list/watch failed')), 'not counted as a failure');
    } finally {
      await l2.stop();
    }
  });

  it('waitForSync times out with the missing resources named', async () => {
    await api.stop();
    layer.views('services', 'nodes');
    layer.start();
    await assert.rejects(layer.waitForSync(300), (e: Error) => /caches not synced.*services, nodes/.test(e.message));
  });

  it('recovers from dropped watches without losing or repeating events', async () => {
    const v = layer.views('services');
    v.services.subscribe((e) => events.push(e));
    layer.start();
    await layer.waitForSync(5000);
    for (let i = 0; i < 5; i++) {
      api.store.create(svcType, 'default', svc(`s${i}`));
      api.dropWatches();
    }
    api.store.create(svcType, 'default', svc('last'));
    await until(() => v.services.list().length === 6, 'six services');
    assert.equal(events.filter((e) => e.type === 'add').length, 6);
  });

  it('re-lists on 410 Gone and reconciles deletions it missed', async () => {
    api.store.create(svcType, 'default', svc('keep'));
    api.store.create(svcType, 'default', svc('gone'));
    const v = layer.views('services');
    v.services.subscribe((e) => events.push(e));
    layer.start();
    await layer.waitForSync(5000);
    await api.stop();
    api.store.delete(svcType, 'default', 'gone');
    api.store.create(svcType, 'default', svc('new'));
    api.store.compact();
    await api.start();
    await until(() => v.services.get('default/new') !== undefined && v.services.get('default/gone') === undefined, 'relist after 410');
    assert.ok(events.some((e) => e.type === 'delete' && e.obj.metadata.name === 'gone'));
  });

  it('survives an API server restart on the same port and reports disconnection meanwhile', async () => {
    const v = layer.views('services');
    layer.start();
    await layer.waitForSync(5000);
    await until(() => layer.disconnectedForMs() === 0, 'watch open');
    await api.stop();
    await until(() => layer.disconnectedForMs() > 0, 'disconnection seen');
    api.store.create(svcType, 'default', svc('while-down'));
    await api.start();
    await until(() => v.services.get('default/while-down') !== undefined, 'object created while down');
    await until(() => layer.disconnectedForMs() === 0, 'reconnected');
  });

  it('counts a quiet open watch as contact until it breaks: an API server gone after 100 s of silence is gone for 0 s, not 100 s', async () => {
    const quiet = new ApiServerFixture({ bookmarkIntervalMs: 600_000 });
    await quiet.start();
    const kc = new KubeConfig();
    kc.loadFromString(quiet.kubeconfig());
    let offset = 0;
    const real = systemClock();
    const clock = { ...real, monotonicMs: () => real.monotonicMs() + offset };
    const l = new WatchLayer({ transport: new KubeTransport(kc), clock, logger: memoryLogger(0).logger, reflector: { backoffInitialMs: 50, backoffMaxMs: 200 } });
    try {
      l.views('services');
      l.start();
      await l.waitForSync(5000);
      await until(() => l.disconnectedForMs() === 0, 'watching');
      offset += 100_000; // a long quiet period: no events, no bookmarks
      await quiet.stop();
      await until(() => l.disconnectedForMs() > 0, 'disconnection seen');
      assert.ok(l.disconnectedForMs() < 5_000, `gone since the stream broke (${l.disconnectedForMs()} ms), not since the last event`);
    } finally {
      await l.stop();
      await quiet.stop().catch(() => undefined);
    }
  });

  it('lists in pages that form one snapshot', async () => {
    for (let i = 0; i < 1203; i++) api.store.create(svcType, 'default', svc(`p${i}`));
    const kc = new KubeConfig();
    kc.loadFromString(api.kubeconfig());
    const t = new KubeTransport(kc);
    const first = await t.list('/api/v1/services', { limit: '500' });
    assert.equal(first.items.length, 500);
    api.store.create(svcType, 'default', svc('late'));
    let token = first.continue;
    let total = first.items.length;
    while (token) {
      const page = await t.list('/api/v1/services', { limit: '500', continue: token });
      assert.equal(page.resourceVersion, first.resourceVersion);
      total += page.items.length;
      token = page.continue;
    }
    assert.equal(total, 1203, 'an object created mid-LIST is not in the snapshot');
    const v = layer.views('services');
    layer.start();
    await layer.waitForSync(5000);
    assert.equal(v.services.list().length, 1204);
  });

  it('keeps only metadata in the cache when every asker promised to read events only', async () => {
    api.store.create(svcType, 'default', svc('m'));
    const slim = layer.viewsWith({ cache: 'metadata' }, 'services');
    const seen: StoreEvent[] = [];
    slim.services.subscribe((e) => seen.push(e));
    layer.start();
    await layer.waitForSync(5000);
    assert.ok(seen[0]?.obj.raw['spec'] !== undefined, 'handlers see the full object');
    assert.deepEqual(slim.services.get('default/m')?.raw, {}, 'the cache keeps metadata only');
    assert.equal(slim.services.get('default/m')?.metadata.labels['app'], 'm');
  });

  it('keeps full objects when any asker needs them', async () => {
    api.store.create(svcType, 'default', svc('f'));
    layer.viewsWith({ cache: 'metadata' }, 'services');
    const full = layer.views('services');
    layer.start();
    await layer.waitForSync(5000);
    assert.ok(full.services.get('default/f')?.raw['spec'] !== undefined);
  });

  it('skips objects without a name instead of failing', async () => {
    const v = layer.views('namespaces');
    layer.start();
    await layer.waitForSync(5000);
    api.store.create(resourceByKind('Namespace')!, undefined, { metadata: { name: 'ns1' } });
    await until(() => v.namespaces.list().length === 1, 'namespace');
  });

  it('label selectors on the fixture: equality and set-based', async () => {
    api.store.create(svcType, 'default', svc('x'));
    api.store.create(svcType, 'default', svc('y'));
    const kc = new KubeConfig();
    kc.loadFromString(api.kubeconfig());
    const t = new KubeTransport(kc);
    assert.equal((await t.list('/api/v1/services', { labelSelector: 'app=x' })).items.length, 1);
    assert.equal((await t.list('/api/v1/services', { labelSelector: 'app in (x,y)' })).items.length, 2);
    assert.equal((await t.list('/api/v1/services', { labelSelector: 'app notin (x)' })).items.length, 1);
    assert.equal((await t.list('/api/v1/namespaces/default/services', { labelSelector: '!app' })).items.length, 0);
    assert.equal((await t.list('/api/v1/services', { fieldSelector: 'metadata.name=y' })).items.length, 1);
  });
});
