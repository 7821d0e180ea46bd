import assert from 'node:assert/strict';
import { parseNode } from '../k8s/kinds/node.js';
import { toKubeObject, type KubeObject } from '../k8s/object.js';
import { loadConfig } from '../options/load-config.js';
import type { CIDR, IP } from '../util/ip.js';
import { parseCommunity, planBgp } from './bgp-plan.js';

const node = (name: string, ip: string, cidr: string, annotations: Record<string, string> = {}): ReturnType<typeof parseNode> =>
  parseNode(toKubeObject({ metadata: { name, annotations }, spec: { podCIDRs: [cidr] }, status: { addresses: [{ type: 'InternalIP', address: ip }] } }) as KubeObject);
const router = (args: string[] = []): Parameters<typeof planBgp>[2] => {
  const r = loadConfig(['--hostname-override=n1', ...args], { env: {}, hostname: () => 'n1', readFile: () => '' });
  if (r.kind !== 'run') throw new Error(JSON.stringify(r));
  return r.config.router;
};
const OPTS = { families: [4 as const], serviceRanges: ['198.18.128.0/20' as CIDR] };

describe('BGP plan from Node objects, flags and annotations', () => {
  it('a full iBGP mesh in the cluster AS, external peers from flags and both annotation forms, pod CIDRs advertised', () => {
    const nodes = [
      node('n1', '198.18.0.11', '198.18.64.0/24', { 'kube-router.io/peers': '- remoteip: 198.18.0.201\n  remoteasn: 65001\n  password: c2VjcmV0\n', 'kube-router.io/node.bgp.communities': '64512:100,no-export,bogus', 'kube-router.io/node.bgp.customimportreject': '198.19.9.0/24' }),
      node('n2', '198.18.0.12', '198.18.65.0/24'),
      node('n3', '198.18.0.13', '198.18.66.0/24'),
    ];
    const p = planBgp('n1', nodes, router(['--peer-router-ips=198.18.0.200', '--peer-router-asns=65000']), OPTS);
    assert.ok(!('error' in p));
    if ('error' in p) return;
    assert.equal(p.localAs, 64512);
    assert.equal(p.routerId, '198.18.0.11');
    assert.deepEqual(p.peers.map((x) => `${x.address} ${x.asn} ${x.kind}${x.password ? ` md5=${Buffer.from(x.password).toString('utf8')}` : ''}`), ['198.18.0.12 64512 node', '198.18.0.13 64512 node', '198.18.0.200 65000 external', '198.18.0.201 65001 external md5=secret']);
    assert.deepEqual(p.originations.map((o) => `${o.prefix} ${o.to}`), ['198.18.64.0/24 all']);
    assert.deepEqual(p.vipCommunities, [64512 * 65536 + 100, 0xffffff01]);
    assert.deepEqual(p.importReject, ['198.18.128.0/20', '198.19.9.0/24']);
    assert.equal(p.problems.length, 1, p.problems.join('\n'));
    const q = planBgp('n1', [node('n1', '198.18.0.11', '198.18.64.0/24', { 'kube-router.io/peer.ips': '198.18.0.202,nope', 'kube-router.io/peer.asns': '65002,65003' })], router(['--advertise-pod-cidr=false']), OPTS);
    assert.ok(!('error' in q));
    if ('error' in q) return;
    assert.deepEqual(q.peers.map((x) => x.address), ['198.18.0.202']);
    assert.equal(q.problems.length, 1);
    assert.deepEqual(q.originations.map((o) => o.to), ['nodes'], 'pod CIDRs stay inside the cluster without --advertise-pod-cidr');
  });

  it('TTL: eBGP peers get 1 (directly connected) or --peer-router-multihop-ttl when 2 or more; iBGP peers (the mesh, an external peer in our AS) keep the default', () => {
    const nodes = [node('n1', '198.18.0.11', '198.18.64.0/24'), node('n2', '198.18.0.12', '198.18.65.0/24')];
    const ttls = (args: string[]): string[] => {
      const p = planBgp('n1', nodes, router(['--peer-router-ips=198.18.0.200,198.18.0.201', '--peer-router-asns=65000,64512', ...args]), OPTS);
      if ('error' in p) throw new Error(p.error);
      return p.peers.map((x) => `${x.address} ${x.ttl ?? 'default'}`);
    };
    assert.deepEqual(ttls([]), ['198.18.0.12 default', '198.18.0.200 1', '198.18.0.201 default']);
    assert.deepEqual(ttls(['--peer-router-multihop-ttl=1']), ['198.18.0.12 default', '198.18.0.200 1', '198.18.0.201 default'], 'below 2 it is not multihop');
    assert.deepEqual(ttls(['--peer-router-multihop-ttl=5']), ['198.18.0.12 default', '198.18.0.200 5', '198.18.0.201 default']);
  });

  it('BFD: --enable-bfd puts the flags\' timers on the global peers; a per-node peer asks in its bfd entry (durations or ms); a bad entry is a problem and the peer stays, without BFD; multihop peers use RFC 5883\'s port', () => {
    const peersAnn = ['- remoteip: 198.18.0.201', '  remoteasn: 65001', '  bfd:', '    enabled: true', '    desired_min_tx_interval: 300ms', '    required_min_rx_interval: 250', '    detection_multiplier: 5', '- remoteip: 198.18.0.202', '  remoteasn: 65001', '  bfd: {enabled: true, desired_min_tx_interval: 1us}', '- remoteip: 198.18.0.203', '  remoteasn: 65001', '  bfd: {enabled: false}', '- remoteip: 198.18.0.204', '  remoteasn: 65001', '  bfd: {enabled: true}', ''].join('\n');
    const nodes = [node('n1', '198.18.0.11', '198.18.64.0/24', { 'kube-router.io/peers': peersAnn }), node('n2', '198.18.0.12', '198.18.65.0/24')];
    const p = planBgp('n1', nodes, router(['--peer-router-ips=198.18.0.200', '--peer-router-asns=65000', '--enable-bfd', '--bfd-desired-min-tx-interval=200ms', '--bfd-required-min-rx-interval=200ms', '--bfd-detection-multiplier=4']), OPTS);
    assert.ok(!('error' in p));
    if ('error' in p) return;
    const by = (ip: string): (typeof p.peers)[number] | undefined => p.peers.find((x) => x.address === ip);
    assert.equal(by('198.18.0.12')?.bfd, undefined, 'the cluster\'s own mesh has no BFD (upstream: global external peers)');
    assert.deepEqual(by('198.18.0.200')?.bfd, { timers: { desiredMinTxUs: 200_000, requiredMinRxUs: 200_000, detectMult: 4 }, port: 3784, hop: 'single' });
    assert.deepEqual(by('198.18.0.201')?.bfd, { timers: { desiredMinTxUs: 300_000, requiredMinRxUs: 250_000, detectMult: 5 }, port: 3784, hop: 'single' });
    assert.ok(by('198.18.0.202'), 'a peer with a bad bfd entry keeps its session');
    assert.equal(by('198.18.0.202')?.bfd, undefined);
    assert.equal(by('198.18.0.203')?.bfd, undefined, 'enabled: false');
    assert.deepEqual(by('198.18.0.204')?.bfd?.timers, { desiredMinTxUs: 200_000, requiredMinRxUs: 200_000, detectMult: 4 }, 'the flags\' timers by default');
    assert.deepEqual(p.problems.filter((x) => x.includes('bfd')).length, 1, p.problems.join('\n'));
    assert.match(p.problems.join('\n'), /peers\[1\]\.bfd desired_min_tx_interval "1us" is not a duration of 10ms or more/);
    const m = planBgp('n1', nodes, router(['--peer-router-ips=198.18.0.200', '--peer-router-asns=65000', '--enable-bfd', '--peer-router-multihop-ttl=3']), OPTS);
    assert.ok(!('error' in m));
    if ('error' in m) return;
    assert.deepEqual(m.peers.find((x) => x.address === '198.18.0.200')?.bfd, { timers: { desiredMinTxUs: 1_000_000, requiredMinRxUs: 1_000_000, detectMult: 3 }, port: 4784, hop: 'multi' });
    const bad = loadConfig(['--hostname-override=n1', '--bfd-desired-min-tx-interval=1ms'], { env: {}, hostname: () => 'n1', readFile: () => '' });
    assert.equal(bad.kind, 'usage-error');
  });

  it('local addresses: peers[].localip and peer.localips pick our source toward a peer, bgp-local-addresses where we listen; an address not on this node is a problem, not a crash', () => {
    const on = ['198.18.0.11', '198.18.9.11', '2001:db8::11'] as IP[];
    const plan = (annotations: Record<string, string>) => {
      const p = planBgp('n1', [node('n1', '198.18.0.11', '198.18.64.0/24', annotations)], router(), { ...OPTS, nodeAddresses: on });
      if ('error' in p) throw new Error(p.error);
      return p;
    };
    const a = plan({ 'kube-router.io/peers': '- remoteip: 198.18.9.200\n  remoteasn: 65001\n  localip: 198.18.9.11\n- remoteip: 198.18.9.201\n  remoteasn: 65001\n  localip: 198.18.77.1\n- remoteip: 198.18.9.202\n  remoteasn: 65001\n  localip: 2001:db8::11\n', 'kube-router.io/bgp-local-addresses': '198.18.0.11, 198.18.9.11,198.18.66.6,nope' });
    assert.deepEqual(a.peers.map((x) => `${x.address} ${x.localAddress ?? 'node'}`), ['198.18.9.200 198.18.9.11', '198.18.9.201 node', '198.18.9.202 node']);
    assert.deepEqual(a.listenAddresses, ['198.18.0.11', '198.18.9.11']);
    assert.equal(a.problems.length, 4, a.problems.join('\n'));
    assert.ok(a.problems.some((p) => p.includes('198.18.77.1 is not an address of this node')));
    assert.ok(a.problems.some((p) => p.includes("is not of the peer 198.18.9.202's family")));
    const b = plan({ 'kube-router.io/peer.ips': '198.18.9.200,198.18.9.201', 'kube-router.io/peer.asns': '65001,65002', 'kube-router.io/peer.localips': '198.18.9.11' });
    assert.deepEqual(b.peers.map((x) => `${x.address} ${x.localAddress ?? 'node'}`), ['198.18.9.200 198.18.9.11', '198.18.9.201 node']);
    assert.deepEqual(b.listenAddresses, ['198.18.0.11'], 'without bgp-local-addresses: the node address');
    assert.deepEqual(b.problems, []);
  });

  it('route reflectors: servers peer with servers and their clients, clients only with servers', () => {
    const nodes = [
      node('n1', '198.18.0.11', '198.18.64.0/24', { 'kube-router.io/rr.server': '42' }),
      node('n2', '198.18.0.12', '198.18.65.0/24', { 'kube-router.io/rr.server': '42' }),
      node('n3', '198.18.0.13', '198.18.66.0/24', { 'kube-router.io/rr.client': '42' }),
      node('n4', '198.18.0.14', '198.18.67.0/24', { 'kube-router.io/rr.client': '42' }),
    ];
    const server = planBgp('n1', nodes, router(), OPTS);
    const client = planBgp('n3', nodes, router(), OPTS);
    assert.ok(!('error' in server) && !('error' in client));
    if ('error' in server || 'error' in client) return;
    assert.equal(server.rrClusterId, '0.0.0.42');
    assert.deepEqual(server.peers.map((x) => `${x.address}${x.rrClient ? ' client' : ''}`), ['198.18.0.12', '198.18.0.13 client', '198.18.0.14 client']);
    assert.deepEqual(client.peers.map((x) => x.address), ['198.18.0.11', '198.18.0.12']);
    assert.equal(client.rrClusterId, undefined);
  });

  it('nodes of another AS (not in full mesh) do not peer; communities parse', () => {
    const nodes = [node('n1', '198.18.0.11', '198.18.64.0/24', { 'kube-router.io/node.asn': '65010' }), node('n2', '198.18.0.12', '198.18.65.0/24', { 'kube-router.io/node.asn': '65011' }), node('n3', '198.18.0.13', '198.18.66.0/24', { 'kube-router.io/node.asn': '65010' })];
    const p = planBgp('n1', nodes, router(['--nodes-full-mesh=false']), OPTS);
    assert.ok(!('error' in p));
    if ('error' in p) return;
    assert.equal(p.localAs, 65010);
    assert.deepEqual(p.peers, [], 'without full mesh and without route reflectors, nodes peer only through configured peers');
    assert.equal(parseCommunity('65535:65281'), 0xffffff01);
    assert.equal(parseCommunity('70000:1'), undefined);
    assert.equal(parseCommunity('4294967295'), 0xffffffff);
  });
});

describe('routing: TCP MD5 keys from annotations', () => {
  it('are bytes end to end (binary keys survive), checked when the peer is planned', async () => {
    const { md5Key } = await import('./bgp-plan.js');
    const binary = md5Key(Buffer.from([0xff, 0x00, 0x80, 0x41]).toString('base64'));
    assert.ok(binary instanceof Uint8Array);
    assert.deepEqual([...binary], [0xff, 0x00, 0x80, 0x41]);
    assert.equal(md5Key('not base64!'), 'is not base64');
    assert.match(String(md5Key(Buffer.alloc(81, 7).toString('base64'))), /81 bytes; TCP MD5 keys are at most 80/);
    assert.equal(md5Key(''), 'is empty');
  });
});
