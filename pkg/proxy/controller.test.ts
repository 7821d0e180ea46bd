import assert from 'node:assert/strict';
import { harness, node, service, slice, NODE, NODE_IP, type Harness } from './harness.test-support.js';

const CIP = '198.18.128.10';
const web = (extra: Record<string, unknown> = {}) => service('web', { type: 'ClusterIP', clusterIP: CIP, clusterIPs: [CIP], ports: [{ name: 'http', port: 80, protocol: 'TCP' }], ...extra });
const eps3 = () => slice('web', [{ ip: '198.18.64.2' }, { ip: '198.18.64.3' }, { ip: '198.18.65.2', node: 'node-b' }], [{ name: 'http', port: 8080 }]);

describe('service proxy controller (nftables on fakes, real watch layer against the fixture)', function () {
  this.timeout(20_000);
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  it('ClusterIP: spreads over every ready endpoint; pod sources keep their address, others are masqueraded', async () => {
    h = await harness();
    await h.client.create(web());
    await h.client.create(eps3());
    await h.until('dnat to 3', () => h.eval({ dst: CIP, dport: 80 }).backends.length === 3);
    const fromPod = h.eval({ dst: CIP, dport: 80, src: '198.18.64.5' });
    assert.deepEqual(fromPod.backends, ['198.18.64.2:8080', '198.18.64.3:8080', '198.18.65.2:8080']);
    assert.deepEqual(fromPod.masqueradedFor, []);
    const fromHost = h.eval({ dst: CIP, dport: 80, src: '198.18.0.50', hook: 'output' });
    assert.equal(fromHost.masqueradedFor.length, 3);
    assert.equal(h.eval({ dst: CIP, dport: 80, protocol: 'udp' }).action, 'reject', 'a port no service serves on a service IP is refused');
    assert.equal(h.eval({ dst: CIP, dport: 81 }).action, 'reject');
    assert.equal(h.eval({ dst: '198.18.0.99', dport: 80 }).action, 'pass');
    assert.ok(h.health.healthy());
  });

  it("tells the router what it committed, after the commit: a Local LoadBalancer IP is served only with a local endpoint in the kernel", async () => {
    h = await harness();
    const key = '198.19.1.7 . tcp . 80';
    assert.equal(h.served.state(4, key), 'absent');
    // Each notification comes after the commit: the kernel already answers as the state says.
    const seen: string[] = [];
    const early: string[] = [];
    h.served.subscribe(() => {
      const st = h.served.state(4, key);
      seen.push(st);
      const kernel = h.eval({ dst: '198.19.1.7', dport: 80 });
      if (st === 'served' && kernel.backends.length === 0) early.push(`said served while the kernel had ${kernel.action}`);
    });
    await h.client.create(service('lb', { type: 'LoadBalancer', clusterIP: CIP, externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30081 }] }, { status: { loadBalancer: { ingress: [{ ip: '198.19.1.7' }] } } }));
    await h.until('the LB frontend committed without endpoints', () => h.served.state(4, key) === 'no-endpoints');
    assert.equal(h.served.state(4, `${CIP} . tcp . 80`), 'no-endpoints');
    await h.client.create(slice('lb', [{ ip: '198.18.65.2', node: 'node-b' }], [{ name: 'http', port: 8080 }]));
    await h.until('the ClusterIP served by the remote endpoint', () => h.served.state(4, `${CIP} . tcp . 80`) === 'served');
    assert.equal(h.served.state(4, key), 'no-endpoints', 'no local endpoint: the Local LB IP is not served here');
    await h.client.patch('EndpointSlice', 'default', 'lb-abc', { endpoints: [{ addresses: ['198.18.65.2'], conditions: { ready: true }, nodeName: 'node-b' }, { addresses: ['198.18.64.2'], conditions: { ready: true }, nodeName: NODE }] });
    await h.until('the local endpoint committed', () => h.served.state(4, key) === 'served');
    assert.ok(seen.includes('served'));
    assert.deepEqual(early, []);
    await h.client.delete('Service', 'default', 'lb');
    await h.until('gone', () => h.served.state(4, key) === 'absent');
  });

  it('NodePort on the node IP; externalTrafficPolicy Local keeps the client address and only local endpoints', async () => {
    h = await harness();
    await h.client.create(web({ type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080, protocol: 'TCP' }] }));
    await h.client.create(eps3());
    await h.until('nodeport', () => h.eval({ dst: NODE_IP, dport: 30080 }).backends.length === 3);
    assert.equal(h.eval({ dst: NODE_IP, dport: 30080, src: '198.19.200.1' }).masqueradedFor.length, 3);
    await h.client.patch('Service', 'default', 'web', { spec: { externalTrafficPolicy: 'Local' } });
    await h.until('local only', () => h.eval({ dst: NODE_IP, dport: 30080 }).backends.length === 2);
    const v = h.eval({ dst: NODE_IP, dport: 30080, src: '198.19.200.1' });
    assert.deepEqual(v.backends, ['198.18.64.2:8080', '198.18.64.3:8080']);
    assert.deepEqual(v.masqueradedFor, []);
    assert.equal(h.eval({ dst: CIP, dport: 80 }).backends.length, 3, 'the ClusterIP still uses every endpoint');
  });

  it('externalIPs and LoadBalancer IPs are validated against their ranges; ipMode Proxy and skiplbips are honoured', async () => {
    h = await harness();
    await h.client.create(
      service('lb', { type: 'LoadBalancer', clusterIP: CIP, ports: [{ name: 'http', port: 80, nodePort: 30081 }], externalIPs: ['198.19.0.5', '198.19.9.9', 'bogus'] }, {
        status: { loadBalancer: { ingress: [{ ip: '198.19.1.7' }, { ip: '198.19.1.8', ipMode: 'Proxy' }, { ip: '198.19.7.7' }] } },
      }),
    );
    await h.client.create(slice('lb', [{ ip: '198.18.64.2' }], [{ name: 'http', port: 8080 }]));
    await h.until('external IP', () => h.eval({ dst: '198.19.0.5', dport: 80 }).action === 'dnat');
    assert.equal(h.eval({ dst: '198.19.1.7', dport: 80 }).action, 'dnat');
    assert.equal(h.eval({ dst: '198.19.9.9', dport: 80 }).action, 'pass', 'outside --service-external-ip-range');
    assert.equal(h.eval({ dst: '198.19.1.8', dport: 80 }).action, 'pass', 'ipMode Proxy');
    assert.equal(h.eval({ dst: '198.19.7.7', dport: 80 }).action, 'pass', 'outside --loadbalancer-ip-range');
    assert.ok(h.lines.some((l) => l.includes('outside --service-external-ip-range')));
    assert.match(await h.metrics.registry.metrics(), /kube_router_input_rejected_total\{controller="proxy",kind="Service",reason="Malformed"\} [1-9]/);
    await h.client.patch('Service', 'default', 'lb', { metadata: { annotations: { 'kube-router.io/service.skiplbips': '' } } });
    await h.until('skiplbips', () => h.eval({ dst: '198.19.1.7', dport: 80 }).action === 'pass');
  });

  it('schedulers on nftables: sh/dh/mh become hash picks; an IPVS-only one is served at random with one Warning per change', async () => {
    h = await harness();
    await h.client.create(service('web', { type: 'ClusterIP', clusterIP: CIP, clusterIPs: [CIP], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }, { annotations: { 'kube-router.io/service.scheduler': 'sh' } }));
    await h.client.create(eps3());
    await h.until('source hash', () => h.eval({ dst: CIP, dport: 80 }).pick === 'src');
    assert.equal(h.eval({ dst: CIP, dport: 80 }).backends.length, 3);
    await h.client.patch('Service', 'default', 'web', { metadata: { annotations: { 'kube-router.io/service.scheduler': 'mh', 'kube-router.io/service.schedflags': 'flag-1,flag-2' } } });
    await h.until('source and port hash', () => h.eval({ dst: CIP, dport: 80 }).pick === 'src-port');
    await h.client.patch('Service', 'default', 'web', { metadata: { annotations: { 'kube-router.io/service.scheduler': 'dh', 'kube-router.io/service.schedflags': '' } } });
    await h.until('destination hash', () => h.eval({ dst: CIP, dport: 80 }).pick === 'dst');
    const unsupported = (): number => h.lines.filter((l) => l.includes('needs the IPVS datapath')).length;
    assert.equal(unsupported(), 0);
    await h.client.patch('Service', 'default', 'web', { metadata: { annotations: { 'kube-router.io/service.scheduler': 'lc' } } });
    await h.until('random again', () => h.eval({ dst: CIP, dport: 80 }).pick === 'random');
    await h.until('one warning', () => unsupported() === 1);
    await h.client.patch('Service', 'default', 'web', { metadata: { labels: { touched: 'yes' } } });
    await h.advance(1000);
    assert.equal(unsupported(), 1, 'the same scheduler again is not a second warning');
    assert.match(await h.metrics.registry.metrics(), /kube_router_input_rejected_total\{controller="proxy",kind="Service",reason="Unsupported"\} 1/);
  });

  it('no endpoints: refused; terminating fallback; internalTrafficPolicy Local', async () => {
    h = await harness();
    await h.client.create(web());
    await h.until('reject without endpoints', () => h.eval({ dst: CIP, dport: 80 }).action === 'reject');
    await h.client.create(slice('web', [{ ip: '198.18.64.2', ready: false, serving: true, terminating: true }, { ip: '198.18.64.3', ready: false, serving: false, terminating: true }], [{ name: 'http', port: 8080 }]));
    await h.until('terminating fallback', () => h.eval({ dst: CIP, dport: 80 }).backends.join() === '198.18.64.2:8080');
    await h.client.update(slice('web', [{ ip: '198.18.64.2' }, { ip: '198.18.65.2', node: 'node-b' }], [{ name: 'http', port: 8080 }]));
    await h.client.patch('Service', 'default', 'web', { spec: { internalTrafficPolicy: 'Local' } });
    await h.until('internal local', () => h.eval({ dst: CIP, dport: 80 }).backends.join() === '198.18.64.2:8080');
  });

  it('PreferClose prefers endpoints in this node\'s zone, falling back to all', async () => {
    h = await harness();
    await h.client.create(web({ trafficDistribution: 'PreferClose' }));
    await h.client.create(slice('web', [{ ip: '198.18.64.2', zone: 'zone-a' }, { ip: '198.18.65.2', node: 'node-b', zone: 'zone-b' }], [{ name: 'http', port: 8080 }]));
    await h.until('zone', () => h.eval({ dst: CIP, dport: 80 }).backends.join() === '198.18.64.2:8080');
    await h.client.update(slice('web', [{ ip: '198.18.65.2', node: 'node-b', zone: 'zone-b' }], [{ name: 'http', port: 8080 }]));
    await h.until('fallback to other zone', () => h.eval({ dst: CIP, dport: 80 }).backends.join() === '198.18.65.2:8080');
  });

  it('ClientIP affinity, hairpin annotation, --masquerade-all', async () => {
    h = await harness(['--masquerade-all']);
    await h.client.create(web({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } }));
    await h.client.create(eps3());
    await h.until('dnat', () => h.eval({ dst: CIP, dport: 80 }).action === 'dnat');
    assert.deepEqual(await h.nft.listSet('ip', 'kube-router-proxy', 'aff-fe-600'), [`${CIP} . tcp . 80`]);
    assert.equal(h.eval({ dst: CIP, dport: 80, src: '198.18.64.5' }).masqueradedFor.length, 3, 'masquerade-all');
    await h.client.patch('Service', 'default', 'web', { metadata: { annotations: { 'kube-router.io/service.hairpin': '' } } });
    await h.until('hairpin set', () => (h.nft.tables.get('ip kube-router-proxy')?.sets.get('hairpin')?.elements.size ?? 0) === 3);
  });

  it('skips headless, ExternalName and other proxies\' services; a malformed port is dropped, the rest works', async () => {
    h = await harness();
    await h.client.create(service('headless', { clusterIP: 'None', ports: [{ port: 80 }] }));
    await h.client.create(service('ext', { type: 'ExternalName', externalName: 'example.invalid' }));
    await h.client.create(service('other', { clusterIP: '198.18.128.20', ports: [{ port: 80 }] }, { labels: { 'service.kubernetes.io/service-proxy-name': 'cilium' } }));
    await h.client.create(web({ ports: [{ name: 'bad', port: 99999 }, { name: 'http', port: 80 }] }));
    await h.client.create(eps3());
    await h.until('web works', () => h.eval({ dst: CIP, dport: 80 }).action === 'dnat');
    assert.equal(h.eval({ dst: '198.18.128.20', dport: 80 }).action, 'pass');
    assert.ok(h.lines.some((l) => l.includes('99999')));
  });

  it('incremental: one endpoint change writes only its elements; a no-op resync writes nothing; a removed UDP backend loses its conntrack flows', async () => {
    h = await harness();
    for (let i = 0; i < 20; i++) {
      await h.client.create(service(`s${i}`, { clusterIP: `198.18.129.${i + 1}`, ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] }));
      await h.client.create(slice(`s${i}`, [{ ip: `198.18.64.${i + 10}` }, { ip: `198.18.65.${i + 10}`, node: 'node-b' }], [{ name: 'dns', port: 5353, protocol: 'UDP' }]));
    }
    await h.until('20 services', () => h.eval({ dst: '198.18.129.20', dport: 53, protocol: 'udp' }).backends.length === 2);
    const before = h.nft.scripts.length;
    await h.client.update(slice('s3', [{ ip: '198.18.64.13' }], [{ name: 'dns', port: 5353, protocol: 'UDP' }]));
    await h.until('s3 down to 1', () => h.eval({ dst: '198.18.129.4', dport: 53, protocol: 'udp' }).backends.length === 1);
    await h.until('conntrack', () => h.conntrack.deleted.length === 1);
    const deltas = h.nft.scripts.slice(before).filter((s) => s.includes('element'));
    const last = deltas[deltas.length - 1] ?? '';
    assert.ok(!last.includes('add table'), 'no full rebuild');
    assert.ok(last.split('\n').every((l) => l === '' || /^(add|delete) element /.test(l) || /^add (set|map|rule|chain) /.test(l)), last);
    assert.ok(!last.includes('198.18.129.5'), 'other services untouched');
    assert.deepEqual(h.conntrack.deleted[0], { protocol: 'udp', origDst: '198.18.129.4', origDport: 53, replySrc: '198.18.65.13' });
    // Periodic resync with nothing changed: no writes.
    const n = h.nft.scripts.length;
    await (h.controller as unknown as { sync(t: string): Promise<void> }).sync('periodic');
    assert.equal(h.nft.scripts.length, n, 'no-op resync applied a script');
  });

  it('rebuilds when someone deletes our table; two services claiming one frontend resolve deterministically', async () => {
    h = await harness();
    await h.client.create(service('a-first', { clusterIP: CIP, externalIPs: ['198.19.0.9'], ports: [{ port: 80 }] }));
    await h.client.create(service('b-second', { clusterIP: '198.18.128.11', externalIPs: ['198.19.0.9'], ports: [{ port: 80 }] }));
    await h.client.create(slice('a-first', [{ ip: '198.18.64.2' }], [{ port: 8080 }]));
    await h.client.create(slice('b-second', [{ ip: '198.18.64.3' }], [{ port: 9090 }]));
    await h.until('winner a', () => h.eval({ dst: '198.19.0.9', dport: 80 }).backends.join() === '198.18.64.2:8080');
    await h.client.delete('Service', 'default', 'a-first');
    await h.until('b takes over', () => h.eval({ dst: '198.19.0.9', dport: 80 }).backends.join() === '198.18.64.3:9090');
    await h.nft.apply('delete table ip kube-router-proxy\n');
    await (h.controller as unknown as { sync(t: string): Promise<void> }).sync('periodic');
    assert.equal(h.eval({ dst: '198.19.0.9', dport: 80 }).backends.join(), '198.18.64.3:9090');
  });

  it('per-Service traffic counters exist while metrics are served, and --service-traffic-counters=false turns them off', async () => {
    const sets = (hh: Harness): string[] => [...(hh.nft.tables.get('ip kube-router-proxy')?.sets.keys() ?? [])].filter((n) => n.startsWith('count-')).sort();
    h = await harness(['--metrics-port=20245']);
    await h.client.create(web());
    await h.client.create(eps3());
    await h.until('served', () => h.eval({ dst: CIP, dport: 80 }).action === 'dnat');
    assert.deepEqual(sets(h), ['count-in', 'count-new', 'count-out']);
    await h.close();
    h = await harness(['--metrics-port=20245', '--service-traffic-counters=false']);
    await h.client.create(web());
    await h.client.create(eps3());
    await h.until('served', () => h.eval({ dst: CIP, dport: 80 }).action === 'dnat');
    assert.deepEqual(sets(h), [], 'no counter sets, no counting chains');
    assert.ok(![...(h.nft.tables.get('ip kube-router-proxy')?.chains.keys() ?? [])].some((c) => c.startsWith('count-')));
  });

  it('dual-stack: IPv6 ClusterIP and endpoints in their own table', async () => {
    h = await harness(['--enable-ipv6', '--service-cluster-ip-range=2001:db8:128::/112']);
    await h.client.create(service('v6', { clusterIPs: ['2001:db8:128::a', CIP], ipFamilies: ['IPv6', 'IPv4'], ports: [{ port: 80 }] }));
    await h.client.create(slice('v6', [{ ip: '2001:db8:64::2' }], [{ port: 8080 }], { family: 'IPv6', name: 'v6-six' }));
    await h.client.create(slice('v6', [{ ip: '198.18.64.2' }], [{ port: 8080 }], { name: 'v6-four' }));
    await h.until('v6 dnat', () => h.eval({ dst: '2001:db8:128::a', dport: 80, src: '2001:db8:64::9' }).backends.join() === '[2001:db8:64::2]:8080');
    await h.until('v4 dnat', () => h.eval({ dst: CIP, dport: 80 }).backends.join() === '198.18.64.2:8080');
    assert.equal((await h.nft.dump('ip6', 'kube-router-proxy'))?.sets.get('dispatch')?.elements.join(), '2001:db8:128::a . tcp . 80 : goto svc-1-m');
    // A single-stack IPv4 NodePort service gets no IPv6 NodePort.
    await h.client.create(service('four', { type: 'NodePort', clusterIPs: ['198.18.128.20'], ipFamilies: ['IPv4'], ports: [{ port: 80, nodePort: 30090 }] }));
    await h.client.create(slice('four', [{ ip: '198.18.64.3' }], [{ port: 8080 }]));
    await h.until('v4 nodeport', () => h.eval({ dst: NODE_IP, dport: 30090 }).backends.join() === '198.18.64.3:8080');
    assert.ok(!(await h.nft.dump('ip6', 'kube-router-proxy'))?.sets.get('dispatch')?.elements.some((e) => e.includes('30090')));
  });

  it('healthCheckNodePort answers 200 with local endpoints, 503 without', async () => {
    h = await harness();
    await h.client.create(
      service('lbl', { type: 'LoadBalancer', clusterIP: CIP, externalTrafficPolicy: 'Local', healthCheckNodePort: 31977, ports: [{ name: 'http', port: 80, nodePort: 30081 }] }, { status: { loadBalancer: { ingress: [{ ip: '198.19.1.7' }] } } }),
    );
    await h.client.create(slice('lbl', [{ ip: '198.18.64.2' }, { ip: '198.18.65.2', node: 'node-b' }], [{ name: 'http', port: 8080 }]));
    const get = async (): Promise<{ status: number; body: string }> => {
      try {
        const r = await fetch('http://127.0.0.1:31977/healthz');
        return { status: r.status, body: await r.text() };
      } catch {
        return { status: 0, body: '' };
      }
    };
    let r = { status: 0, body: '' };
    await h.until('health check port', () => {
      void get().then((x) => (r = x));
      return r.status === 200;
    });
    assert.deepEqual(JSON.parse(r.body), { service: { namespace: 'default', name: 'lbl' }, localEndpoints: 1 });
    await h.client.update(slice('lbl', [{ ip: '198.18.65.2', node: 'node-b' }], [{ name: 'http', port: 8080 }]));
    await h.until('503 without local endpoints', () => {
      void get().then((x) => (r = x));
      return r.status === 503;
    });
    await h.client.delete('Service', 'default', 'lbl');
    await h.until('port closed', () => {
      void get().then((x) => (r = x));
      return r.status === 0;
    });
  });

  it('graceful termination: a removed TCP backend keeps its flows for the grace period, then they are removed', async () => {
    h = await harness(['--ipvs-graceful-termination', '--ipvs-graceful-period=300ms']);
    await h.client.create(web());
    await h.client.create(eps3());
    await h.until('dnat', () => h.eval({ dst: CIP, dport: 80 }).backends.length === 3);
    await h.client.update(slice('web', [{ ip: '198.18.64.2' }, { ip: '198.18.64.3' }], [{ name: 'http', port: 8080 }]));
    await h.until('removed from new connections', () => h.eval({ dst: CIP, dport: 80 }).backends.length === 2);
    assert.equal(h.conntrack.deleted.length, 0, 'established TCP flows are left alone at first');
    await h.advance(299, { waitForSync: false });
    assert.equal(h.conntrack.deleted.length, 0, 'still within the grace period');
    await h.advance(1, { waitForSync: false });
    await h.until('flows removed after the grace period', () => h.conntrack.deleted.length === 1);
    assert.deepEqual(h.conntrack.deleted[0], { protocol: 'tcp', origDst: CIP, origDport: 80, replySrc: '198.18.65.2' });
  });

  it('NodePort follows the node IP when the Node object changes', async () => {
    h = await harness();
    await h.client.create(web({ type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }] }));
    await h.client.create(eps3());
    await h.until('nodeport', () => h.eval({ dst: NODE_IP, dport: 30080 }).action === 'dnat');
    const n = node(NODE, '198.18.0.20', '198.18.64.0/24', 'zone-a');
    const cur = await h.client.get('Node', undefined, NODE);
    await h.client.update({ ...n, metadata: { ...(n['metadata'] as object), resourceVersion: (cur?.['metadata'] as { resourceVersion: string }).resourceVersion } });
    await h.until('moved', () => h.eval({ dst: '198.18.0.20', dport: 30080 }).action === 'dnat' && h.eval({ dst: NODE_IP, dport: 30080 }).action !== 'dnat');
    void NODE;
  });
});
