import assert from 'node:assert/strict';
import { FakeIpvs } from '../../linux/ipvs/fake.js';
import type { IpvsServiceId } from '../../linux/ipvs/types.js';
import type { IP } from '../../util/ip.js';
import { harness, podWithContainer, service, slice, NODE_IP, type Harness } from '../harness.test-support.js';
import { FakePodTunnels } from '../../linux/podtunnel/fake.js';
import type { ContainerRuntime } from '../../cri/client.js';

const CIP = '198.18.128.10';
const id = (address: string, port: number, protocol: 'tcp' | 'udp' = 'tcp'): IpvsServiceId => ({ family: 4, protocol, address: address as IP, port });
const web = (extra: Record<string, unknown> = {}, annotations: Record<string, string> = {}) => service('web', { type: 'NodePort', clusterIP: CIP, clusterIPs: [CIP], ports: [{ name: 'http', port: 80, nodePort: 30080, protocol: 'TCP' }], ...extra }, { annotations });
const eps = (...ips: string[]) => slice('web', ips.map((ip) => ({ ip })), [{ name: 'http', port: 8080 }]);

async function destsOf(ipvs: FakeIpvs, sid: IpvsServiceId): Promise<string[]> {
  return (await ipvs.destinations(sid)).map((d) => `${d.address}:${d.port}/${d.weight}`).sort();
}

describe('service proxy on the IPVS backend (fake IPVS, real watch layer against the fixture)', function () {
  this.timeout(20_000);
  let h: Harness;
  let ipvs: FakeIpvs;
  beforeEach(() => {
    ipvs = new FakeIpvs();
  });
  afterEach(async () => {
    await h.close();
  });

  it('ClusterIP and NodePort become IPVS services with masquerading destinations; the VIP goes on kube-dummy-if with a local route from the node IP; the sets record them', async () => {
    h = await harness([], { ipvs });
    await h.client.create(web());
    await h.client.create(eps('198.18.64.2', '198.18.64.3'));
    await h.until('services', () => ipvs.log.filter((o) => o.op === 'add-dest').length === 4);
    assert.deepEqual(await destsOf(ipvs, id(CIP, 80)), ['198.18.64.2:8080/1', '198.18.64.3:8080/1']);
    assert.deepEqual(await destsOf(ipvs, id(NODE_IP, 30080)), ['198.18.64.2:8080/1', '198.18.64.3:8080/1']);
    const [svc] = (await ipvs.services()).filter((s) => 'address' in s.id && s.id.address === CIP);
    assert.equal(svc?.scheduler, 'rr');
    assert.ok((await h.netlink.addresses(4)).some((a) => a.dev === 'kube-dummy-if' && a.ip === CIP));
    const local = (await h.netlink.routes(4, { table: 'all' })).find((r) => r.dst === `${CIP}/32` && r.type === 'local');
    assert.equal(local?.src, NODE_IP, 'host traffic to the VIP does not take the VIP as its source');
    const sets = new Map([...h.ipset.sets].map(([n, s]) => [n, [...s.entries].sort()]));
    assert.deepEqual(sets.get('kube-router-svip'), [CIP]);
    assert.deepEqual(sets.get('kube-router-svip-prt'), [`${NODE_IP},tcp:30080`, `${CIP},tcp:80`].sort());
    assert.ok(sets.get('kube-router-local-ips')?.includes(NODE_IP));
    assert.ok(!sets.get('kube-router-local-ips')?.includes(CIP), 'VIPs are not local addresses');
    const filter = await h.iptables[4].save('filter');
    assert.match(filter, /-A INPUT -m comment --comment "kube-router ipvs service filter" -m set --match-set kube-router-svip dst -j KUBE-ROUTER-SERVICES/);
    assert.match(filter, /-A KUBE-ROUTER-SERVICES -m set --match-set kube-router-svip-prt dst,dst -j ACCEPT/);
    const nat = await h.iptables[4].save('nat');
    assert.match(nat, /-A KUBE-ROUTER-SVC-MASQ -s 198\.18\.64\.0\/24 -j RETURN/);
    assert.match(nat, /-A KUBE-ROUTER-SVC-MASQ -m ipvs --vdir ORIGINAL --vmethod MASQ -j MASQUERADE/);
  });

  it('one endpoint change is one destination op; a scheduler annotation is an in-place service update', async () => {
    h = await harness([], { ipvs });
    await h.client.create(web({ type: 'ClusterIP', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }));
    await h.client.create(eps('198.18.64.2', '198.18.64.3'));
    await h.until('two', async () => (await destsOf(ipvs, id(CIP, 80))).length === 2);
    const before = ipvs.log.length;
    await h.client.update(eps('198.18.64.2', '198.18.64.3', '198.18.64.4'));
    await h.until('three', () => ipvs.log.length > before);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(ipvs.log.slice(before).map((o) => o.op), ['add-dest']);
    const mid = ipvs.log.length;
    await h.client.update(eps('198.18.64.2', '198.18.64.4'));
    await h.until('removed', () => ipvs.log.length > mid);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(ipvs.log.slice(mid).map((o) => o.op), ['delete-dest']);
    const m2 = ipvs.log.length;
    await h.client.patch('Service', 'default', 'web', { metadata: { annotations: { 'kube-router.io/service.scheduler': 'mh', 'kube-router.io/service.schedflags': 'flag-1,flag-2' } } });
    await h.until('updated', () => ipvs.log.length > m2);
    const [svc] = await ipvs.services();
    assert.equal(svc?.scheduler, 'mh');
    assert.deepEqual(svc.flags, { sched1: true, sched2: true });
    assert.deepEqual(ipvs.log.slice(m2).map((o) => o.op), ['update-service']);
  });

  it('a foreign IPVS service survives our syncs; a stale service of ours (recorded in svip-prt) is removed', async () => {
    await ipvs.apply([{ op: 'add-service', service: { id: id('198.18.200.1', 443), scheduler: 'wrr', flags: {}, timeout: 0, netmask: 0xffffffff } }]);
    h = await harness(['--ipvs-sync-period=1s'], { ipvs });
    // A service of ours from a previous run: in the kernel and in our set, no longer wanted.
    await ipvs.apply([{ op: 'add-service', service: { id: id('198.18.128.99', 80), scheduler: 'rr', flags: {}, timeout: 0, netmask: 0xffffffff } }]);
    await h.ipset.restore('create kube-router-svip-prt hash:ip,port family inet\nadd kube-router-svip-prt 198.18.128.99,tcp:80\n');
    await h.client.create(web({ type: 'ClusterIP', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }));
    await h.client.create(eps('198.18.64.2'));
    await h.until('ours gone, theirs kept', async () => {
      const ids = (await ipvs.services()).map((s) => ('address' in s.id ? s.id.address : '')).sort();
      return ids.join() === [CIP, '198.18.200.1'].sort().join();
    }, 5000);
    const text = await h.metrics.registry.metrics();
    assert.match(text, /^kube_router_service_total_connections\{svc_namespace="default",service_name="web",service_vip="198\.18\.128\.10",protocol="tcp",port="80"\} 0$/m);
    assert.match(text, /^kube_router_service_bps_in\{svc_namespace="default",service_name="web"/m);
    assert.doesNotMatch(text, /198\.18\.200\.1/, 'services that are not ours are not reported');
    assert.match(text, /^kube_router_proxy_backend_info\{backend="ipvs"\} 1$/m);
  });

  it('a virtual service someone else made at an address:port a Service claims is skipped, never adopted (its destinations and scheduler stay)', async () => {
    await ipvs.apply([
      { op: 'add-service', service: { id: id(CIP, 80), scheduler: 'wrr', flags: {}, timeout: 0, netmask: 0xffffffff } },
      { op: 'add-dest', service: id(CIP, 80), dest: { address: '198.18.200.9' as IP, port: 443, forward: 'masq', weight: 5, upperThreshold: 0, lowerThreshold: 0 } },
    ]);
    h = await harness(['--ipvs-sync-period=1s'], { ipvs });
    await h.client.create(web({ type: 'ClusterIP', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }));
    await h.client.create(eps('198.18.64.2'));
    await h.until('the skip is logged', () => h.lines.some((l) => l.includes('skipped, not adopted')));
    await h.advance(1500); // and a periodic full sync
    assert.deepEqual(await destsOf(ipvs, id(CIP, 80)), ['198.18.200.9:443/5']);
    assert.equal((await ipvs.services()).find((x) => 'address' in x.id && x.id.address === CIP)?.scheduler, 'wrr');
    assert.ok(!h.ipset.sets.get('kube-router-svip-prt')?.entries.has(`${CIP},tcp:80`), 'never recorded as ours, so cleanup leaves it too');
  });

  it('IPv6: the kernel\'s own link-local address on kube-dummy-if is never taken for a stale VIP', async () => {
    h = await harness(['--enable-ipv6', '--service-cluster-ip-range=2001:db8:128::/112', '--ipvs-sync-period=1s'], { ipvs });
    await h.until('dummy', async () => (await h.netlink.links()).some((l) => l.name === 'kube-dummy-if'));
    await h.netlink.apply([{ op: 'addr-add', dev: 'kube-dummy-if', ip: 'fe80::1' as IP, prefix: 64 }]);
    await h.client.create(service('v6', { clusterIPs: ['2001:db8:128::a'], ipFamilies: ['IPv6'], ports: [{ name: 'http', port: 80 }] }));
    await h.client.create(slice('v6', [{ ip: '2001:db8:64::2' }], [{ name: 'http', port: 8080 }], { family: 'IPv6' }));
    await h.until('v6 service', async () => (await ipvs.services()).some((x) => 'address' in x.id && x.id.address === '2001:db8:128::a'));
    await h.advance(1500); // a periodic full sync too
    assert.ok((await h.netlink.addresses(6)).some((a) => a.dev === 'kube-dummy-if' && a.ip === 'fe80::1'));
    assert.ok((await h.netlink.addresses(6)).some((a) => a.dev === 'kube-dummy-if' && a.ip === '2001:db8:128::a'));
    assert.deepEqual(h.lines.filter((l) => l.includes('sync failed')), []);
    assert.deepEqual([...(h.ipset.sets.get('inet6:kube-router-svip')?.entries ?? [])], ['2001:db8:128::a']);
  });

  it('--excluded-cidrs: a stale service of ours inside an excluded range is never deleted', async () => {
    h = await harness(['--excluded-cidrs=198.18.140.0/24', '--ipvs-sync-period=1s'], { ipvs });
    // Two services of ours from a previous run (in the kernel, then recorded in our set).
    for (const a of ['198.18.140.7', '198.18.141.7']) await ipvs.apply([{ op: 'add-service', service: { id: id(a, 80), scheduler: 'rr', flags: {}, timeout: 0, netmask: 0xffffffff } }]);
    await h.ipset.restore('create kube-router-svip-prt hash:ip,port family inet\nadd kube-router-svip-prt 198.18.140.7,tcp:80\nadd kube-router-svip-prt 198.18.141.7,tcp:80\n');
    await h.client.create(web({ type: 'ClusterIP', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }));
    await h.until('the one outside the excluded range is gone', async () => !(await ipvs.services()).some((s) => 'address' in s.id && s.id.address === '198.18.141.7'), 5000);
    await h.advance(1500);
    assert.ok((await ipvs.services()).some((s) => 'address' in s.id && s.id.address === '198.18.140.7'), 'kept after a periodic sync too');
    assert.ok(h.ipset.sets.get('kube-router-svip-prt')?.entries.has('198.18.140.7,tcp:80'), 'and still recorded as ours (cleanup removes it)');
  });

  it('graceful termination: a removed endpoint gets weight 0 and is deleted once its connections drain', async () => {
    h = await harness(['--ipvs-graceful-termination', '--ipvs-graceful-period=30s'], { ipvs });
    await h.client.create(web({ type: 'ClusterIP', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }));
    await h.client.create(eps('198.18.64.2', '198.18.64.3'));
    await h.until('two', async () => (await destsOf(ipvs, id(CIP, 80))).length === 2);
    ipvs.setConnections(id(CIP, 80), '198.18.64.3' as IP, 8080, 1, 0);
    await h.client.update(eps('198.18.64.2'));
    await h.until('weight 0', async () => (await destsOf(ipvs, id(CIP, 80))).includes('198.18.64.3:8080/0'));
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(await destsOf(ipvs, id(CIP, 80)), ['198.18.64.2:8080/1', '198.18.64.3:8080/0'], 'kept while a connection is open');
    ipvs.setConnections(id(CIP, 80), '198.18.64.3' as IP, 8080, 0, 0);
    await h.advance(5000); // the drain check, every 5 s
    await h.until('deleted after draining', async () => (await destsOf(ipvs, id(CIP, 80))).length === 1);
  });

  it('an endpoint back before it drained is weighted up again, not added twice', async () => {
    h = await harness(['--ipvs-graceful-termination'], { ipvs });
    await h.client.create(web({ type: 'ClusterIP', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }));
    await h.client.create(eps('198.18.64.2', '198.18.64.3'));
    await h.until('two', async () => (await destsOf(ipvs, id(CIP, 80))).length === 2);
    ipvs.setConnections(id(CIP, 80), '198.18.64.3' as IP, 8080, 1, 0);
    await h.client.update(eps('198.18.64.2'));
    await h.until('weight 0', async () => (await destsOf(ipvs, id(CIP, 80))).includes('198.18.64.3:8080/0'));
    await h.client.update(eps('198.18.64.2', '198.18.64.3'));
    await h.until('weight 1', async () => (await destsOf(ipvs, id(CIP, 80))).includes('198.18.64.3:8080/1'));
    assert.ok(h.lines.every((l) => !l.includes('IPVS op failed')), h.lines.filter((l) => l.includes('failed')).join('\n'));
  });
});

describe('DSR on the IPVS backend (fake IPVS, fake pod tunnels, a runtime in memory)', function () {
  this.timeout(20_000);
  const VIP = '198.19.0.5';
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  it('a DSR externalIP becomes a fwmark service with tunnel destinations, marked in mangle, delivered by table 78; the local pod gets the VIP on its tunnel; dropping DSR undoes all of it, in the pod too', async () => {
    const ipvs = new FakeIpvs();
    const tunnels = new FakePodTunnels();
    tunnels.addPod(101);
    const asked: string[] = [];
    const openCri = (endpoint: string): ContainerRuntime => {
      assert.equal(endpoint, 'unix:///run/test/cri.sock');
      return { containerPid: (id) => (asked.push(id), id === 'c1' ? Promise.resolve(101) : Promise.reject(new Error(`no container ${id}`))), close: () => undefined };
    };
    h = await harness(['--runtime-endpoint=unix:///run/test/cri.sock'], { ipvs, dsr: { podTunnels: tunnels, openCri } });
    await h.client.create(podWithContainer('p1', '198.18.64.2', 'c1'));
    const svc = (dsr: boolean) => service('web', { type: 'ClusterIP', clusterIP: CIP, clusterIPs: [CIP], externalIPs: [VIP], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }, { annotations: dsr ? { 'kube-router.io/service.dsr': 'tunnel' } : {} });
    await h.client.create(svc(true));
    await h.client.create(slice('web', [{ ip: '198.18.64.2', pod: 'p1' }, { ip: '198.18.65.2', node: 'node-b', pod: 'p2' }], [{ name: 'http', port: 8080 }]));
    const fwmark = async () => (await ipvs.services()).find((s) => 'fwmark' in s.id);
    await h.until('fwmark service', async () => (await fwmark()) !== undefined && (await tunnels.vips(101)).length === 1);
    const fw = (await fwmark()) as Awaited<ReturnType<typeof fwmark>> & { id: { fwmark: number } };
    const mark = fw.id.fwmark;
    assert.ok(mark > 0 && mark <= 0x3fff, `a 14-bit mark: ${mark}`);
    assert.deepEqual((await ipvs.destinations(fw.id)).map((d) => `${d.address}:${d.port}/${d.forward}`).sort(), ['198.18.64.2:8080/tunnel', '198.18.65.2:8080/tunnel']);
    assert.ok(!(await ipvs.services()).some((s) => 'address' in s.id && s.id.address === VIP), 'no address service for the DSR VIP');
    assert.deepEqual(await destsOf(ipvs, id(CIP, 8080)), ['198.18.64.2:8080/1', '198.18.65.2:8080/1'], 'the ClusterIP stays NAT');
    assert.ok(!(await h.netlink.addresses(4)).some((a) => a.ip === VIP), 'a VIP-less director');
    const mangle = await h.iptables[4].save('mangle');
    assert.match(mangle, new RegExp(`-A KUBE-ROUTER-DSR -d ${VIP.replace(/\./g, '\\.')}/32 -p tcp -m tcp --dport 8080 -j MARK --set-xmark 0x${mark.toString(16)}/0xffffffff`));
    assert.match(mangle, /-A KUBE-ROUTER-DSR -s 198\.19\.0\.5\/32 -p tcp -m tcp --sport 8080 --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1440/);
    assert.match(mangle, /-A PREROUTING -m comment --comment "kube-router ipvs dsr" -j KUBE-ROUTER-DSR/);
    assert.ok((await h.netlink.rules(4)).some((r) => r.fwmark === mark && r.table === 78), 'fwmark rule to table 78');
    assert.ok((await h.netlink.routes(4, { table: 78 })).some((r) => r.type === 'local' && r.dst === '0.0.0.0/0' && r.dev === 'lo'));
    assert.deepEqual(await tunnels.vips(101), [VIP]);
    assert.equal(tunnels.pods.get(101)?.podIP, '198.18.64.2');
    assert.deepEqual(asked, ['c1'], 'only the local pod is entered');
    assert.deepEqual([...h.ipset.sets.get('kube-router-dsr')?.entries ?? []], [`${VIP},tcp:8080`]);
    // A periodic resync reads the pod and writes nothing; one that finds the VIP gone puts it back.
    const writes = tunnels.ensureCalls;
    await h.advance(5 * 60_000, { waitForSync: true });
    assert.equal(tunnels.ensureCalls, writes, 'nothing changed: nothing written into the pod');
    (tunnels.pods.get(101) as { vips: Set<string> }).vips.clear();
    await h.advance(5 * 60_000, { waitForSync: true });
    await h.until('repaired', async () => (await tunnels.vips(101)).length === 1);

    await h.client.update(svc(false));
    await h.until('DSR undone', async () => (await fwmark()) === undefined && (await tunnels.vips(101)).length === 0);
    assert.deepEqual(await destsOf(ipvs, id(VIP, 8080)), ['198.18.64.2:8080/1', '198.18.65.2:8080/1'], 'the externalIP is plain NAT again');
    assert.ok((await h.netlink.addresses(4)).some((a) => a.dev === 'kube-dummy-if' && a.ip === VIP));
    assert.ok(!(await h.netlink.rules(4)).some((r) => r.table === 78));
    assert.ok(!(await h.netlink.routes(4, { table: 78 })).length);
    assert.doesNotMatch(await h.iptables[4].save('mangle'), /MARK --set-xmark/);
    assert.deepEqual([...h.ipset.sets.get('kube-router-dsr')?.entries ?? []], []);
  });

  it('a pod the runtime does not know is reported and retried; the other pods and the node side go on', async () => {
    const ipvs = new FakeIpvs();
    const tunnels = new FakePodTunnels();
    tunnels.addPod(101);
    const openCri = (): ContainerRuntime => ({ containerPid: (cid) => (cid === 'c1' ? Promise.resolve(101) : Promise.reject(new Error('container not found'))), close: () => undefined });
    h = await harness(['--runtime-endpoint=unix:///run/test/cri.sock'], { ipvs, dsr: { podTunnels: tunnels, openCri } });
    await h.client.create(podWithContainer('p1', '198.18.64.2', 'c1'));
    await h.client.create(podWithContainer('p3', '198.18.64.3', 'gone'));
    await h.client.create(service('web', { type: 'ClusterIP', clusterIP: CIP, clusterIPs: [CIP], externalIPs: [VIP], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }, { annotations: { 'kube-router.io/service.dsr': 'tunnel' } }));
    await h.client.create(slice('web', [{ ip: '198.18.64.2', pod: 'p1' }, { ip: '198.18.64.3', pod: 'p3' }], [{ name: 'http', port: 8080 }]));
    await h.until('p1 has its tunnel', async () => (await tunnels.vips(101)).length === 1);
    await h.until('p3 reported', () => h.lines.some((l) => l.includes('DSR: could not set the tunnel in a pod') && l.includes('default/p3')));
    assert.equal((await ipvs.services()).filter((s) => 'fwmark' in s.id).length, 1);
  });
});
