/**
 * The IPVS backend on a real IPVS kernel (in the VM): the proxy controller, on real adapters inside a
 * node namespace, programs IPVS through our generic-netlink codec; real HTTP and UDP go through the
 * virtual services to backend pods in their own namespaces.
 *
 *   node ns (198.18.0.10 on eth0, 198.18.64.1/24 on br0) ── pods p1 198.18.64.2, p2 198.18.64.3
 *        └── client ns (198.18.0.3), the world outside the node
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { realExec } from '../../pkg/linux/exec.js';
import { cleanupIpsets, cleanupIptables, cleanupIpvs } from '../../pkg/linux/cleanup.js';
import { detectIptablesVariant, RealIptables } from '../../pkg/linux/iptables/real.js';
import { realNetlinkSockets } from '../../pkg/linux/genl/socket.js';
import { RealIpset } from '../../pkg/linux/ipset/real.js';
import { openIpvs } from '../../pkg/linux/ipvs/real.js';
import type { Ipvs } from '../../pkg/linux/ipvs/types.js';
import { netnsExec } from '../../pkg/linux/exec.js';
import { addNetns, deleteNetns } from '../../pkg/linux/netns.js';
import { startInNetns, type NsProcess } from '../../test/ns-process.js';
import { DIST } from '../../test/paths.js';
import { harness, service, slice, NODE_IP, type Harness } from '../../pkg/proxy/harness.test-support.js';
import { toKubeObject, type KubeObject } from '../../pkg/k8s/object.js';
import { parsePod } from '../../pkg/k8s/kinds/pod.js';
import { parsePolicy } from '../../pkg/k8s/kinds/network-policy.js';
import { FirewallTracker } from '../../pkg/netpol/model/tracker.js';
import { IptablesFirewallBackend, removeIptablesFirewall } from '../../pkg/netpol/iptables/backend.js';
import type { CIDR } from '../../pkg/util/ip.js';

const CIP = '198.18.128.10';
const sh = realExec();
const ipIn = (ns: string, ...a: string[]): Promise<unknown> => sh.run(['ip', '-n', ns, ...a]);
const inNs = async (ns: string, ...argv: string[]): Promise<string> => (await sh.run(['ip', 'netns', 'exec', ns, ...argv])).stdout;

describe('IPVS backend on a real IPVS kernel (VM): real packets through virtual services', function () {
  this.timeout(300_000);
  const tag = `krt-t-${process.pid}-iv`;
  const N = `${tag}-node`;
  const C = `${tag}-cli`;
  const pods = [`${tag}-p1`, `${tag}-p2`];
  const podIPs = ['198.18.64.2', '198.18.64.3'];
  /** A client pod (no server) on the same bridge. */
  const P3 = `${tag}-p3`;
  const servers: NsProcess[] = [];
  let h: Harness | undefined;
  let ipvs: Ipvs;

  const curl = async (from: string, url: string): Promise<string> => {
    const out = await inNs(from, 'curl', '-g', '-s', '-m', '5', '-D', '-', url).catch(() => 'REFUSED');
    const client = /x-client: (\S+)/i.exec(out)?.[1];
    const body = out.trim().split('\n').pop() ?? '';
    return client ? `${body} client=${client}` : out.trim();
  };
  const udp = async (from: string, to: string): Promise<string> =>
    inNs(from, 'node', join(DIST, 'lab/probe-client.js'), '--to', to, '--proto', 'udp', '--timeout-ms', '8000').then(
      (o) => {
        const lines = o.trim().split('\n');
        return `${lines[lines.length - 1] ?? ''} client=${lines.find((l) => l.startsWith('client '))?.slice(7) ?? '?'}`;
      },
      () => 'REFUSED',
    );
  const ipvsadm = (): Promise<string> => inNs(N, 'ipvsadm', '-Ln');
  /** `ipvsadm -Ln` as `PROTO addr:port sched [flags]` → `addr:port fwd weight` lines. */
  const table = async (): Promise<Map<string, string[]>> => {
    const out = new Map<string, string[]>();
    let cur: string[] | undefined;
    for (const line of (await ipvsadm()).split('\n')) {
      const svc = /^(TCP|UDP|SCTP)\s+(\S+)\s+(\S+)(?:\s+(.*\S))?\s*$/.exec(line);
      const dest = /^\s+->\s+([\d[]\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line);
      if (svc) out.set(`${svc[1]} ${svc[2]} ${svc[3]}${svc[4] ? ` ${svc[4]}` : ''}`, (cur = []));
      else if (dest && cur) cur.push(`${dest[1]} ${dest[2]} ${dest[3]}`);
    }
    return out;
  };
  const web = (extra: Record<string, unknown> = {}, annotations: Record<string, string> = {}) =>
    service('web', { type: 'NodePort', clusterIP: CIP, clusterIPs: [CIP], ports: [{ name: 'http', port: 80, nodePort: 30080, protocol: 'TCP' }, { name: 'dns', port: 53, nodePort: 30053, protocol: 'UDP' }], ...extra }, { annotations });
  const eps = (...ips: string[]) => slice('web', ips.map((ip) => ({ ip })), [{ name: 'http', port: 8080 }, { name: 'dns', port: 5353, protocol: 'UDP' }]);

  before(async () => {
    for (const ns of [N, C, ...pods, P3]) await addNetns(sh, ns);
    for (const ns of [N, C, ...pods, P3]) await ipIn(ns, 'link', 'set', 'lo', 'up');
    await ipIn(N, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', C);
    await ipIn(N, 'addr', 'add', `${NODE_IP}/24`, 'dev', 'eth0');
    await ipIn(C, 'addr', 'add', '198.18.0.3/24', 'dev', 'eth0');
    await ipIn(N, 'link', 'add', 'br0', 'type', 'bridge');
    await ipIn(N, 'addr', 'add', '198.18.64.1/24', 'dev', 'br0');
    for (const [i, p] of [...pods, P3].entries()) {
      await ipIn(N, 'link', 'add', `veth${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', p);
      await ipIn(N, 'link', 'set', `veth${i}`, 'master', 'br0', 'up');
      // As the bridge plugin sets it from our CNI config (hairpinMode: true).
      await ipIn(N, 'link', 'set', `veth${i}`, 'type', 'bridge_slave', 'hairpin', 'on');
      await ipIn(p, 'addr', 'add', `${podIPs[i] ?? '198.18.64.4'}/24`, 'dev', 'eth0');
      await ipIn(p, 'link', 'set', 'eth0', 'up');
      await ipIn(p, 'route', 'add', 'default', 'via', '198.18.64.1');
    }
    // IPv6 alongside (nodad: usable at once).
    await ipIn(N, 'addr', 'add', '2001:db8::10/64', 'dev', 'eth0', 'nodad');
    await ipIn(C, 'addr', 'add', '2001:db8::3/64', 'dev', 'eth0', 'nodad');
    await ipIn(N, 'addr', 'add', '2001:db8:64::1/64', 'dev', 'br0', 'nodad');
    for (const [i, p] of [...pods, P3].entries()) {
      await ipIn(p, 'addr', 'add', `2001:db8:64::${i + 2}/64`, 'dev', 'eth0', 'nodad');
      await ipIn(p, '-6', 'route', 'add', 'default', 'via', '2001:db8:64::1');
    }
    for (const l of ['eth0', 'br0']) await ipIn(N, 'link', 'set', l, 'up');
    await inNs(N, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1');
    await ipIn(C, 'link', 'set', 'eth0', 'up');
    await inNs(N, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    for (const [i, p] of pods.entries()) servers.push(startInNetns(p, ['node', join(DIST, 'lab/workload.js'), '--name', `default/p${i + 1}`, '--tcp', '8080', '--udp', '5353']));
    for (const s of servers) await s.waitForOutput(/ready/, 60_000);
    const opened = await openIpvs(realNetlinkSockets(), { netns: N });
    assert.ok(opened, 'the VM kernel has IPVS');
    ipvs = opened;
    // Somebody else's virtual service, which we must never touch.
    await inNs(N, 'ipvsadm', '-A', '-t', '198.18.200.1:443', '-s', 'wrr');
    await inNs(N, 'ipvsadm', '-a', '-t', '198.18.200.1:443', '-r', '198.18.64.9:443', '-m');
    // What upstream kube-router left on this node: a virtual service recorded in the set we share (so
    // ours to adopt, and gone once no Service wants it), its masquerade rule straight in POSTROUTING
    // (signed with an empty comment) and its own jump into the service filter chain.
    await sh.run(['ip', 'netns', 'exec', N, 'ipset', 'restore'], { stdin: 'create kube-router-svip-prt hash:ip,port\nadd kube-router-svip-prt 198.18.128.99,tcp:80\ncreate kube-router-svip hash:ip\n' });
    await inNs(N, 'ipvsadm', '-A', '-t', '198.18.128.99:80', '-s', 'rr');
    await inNs(N, 'ipvsadm', '-a', '-t', '198.18.128.99:80', '-r', '198.18.64.2:8080', '-m');
    await sh.run(['ip', 'netns', 'exec', N, 'iptables-restore', '--noflush'], {
      stdin: '*nat\n-A POSTROUTING -m ipvs --ipvs --vdir ORIGINAL --vmethod MASQ -m comment --comment "" -j SNAT --to-source 198.18.0.10 --random-fully\nCOMMIT\n*filter\n:KUBE-ROUTER-SERVICES - [0:0]\n-A INPUT -m comment --comment "handle traffic to IPVS service IPs in custom chain" -m set --match-set kube-router-svip dst -j KUBE-ROUTER-SERVICES\nCOMMIT\n',
    });
  });

  after(async () => {
    await h?.close();
    for (const s of servers) await s.stop(500);
    for (const ns of [N, C, ...pods, P3]) await deleteNetns(sh, ns).catch(() => undefined);
  });

  it('services and destinations created by our codec are what ipvsadm -Ln shows; ClusterIP spreads real HTTP over both pods', async () => {
    h = await harness(['--service-proxy-backend=ipvs', '--ipvs-sync-period=5s', '--ipvs-graceful-termination', '--ipvs-graceful-period=60s', '--enable-ipv6=true', '--service-cluster-ip-range=2001:db8:128::/112', '--service-external-ip-range=198.18.210.0/24'], { real: { netns: N, ipvs } });
    await h.client.create(web());
    await h.client.create(eps(...podIPs));
    await h.until('ipvs programmed', async () => (await ipvsadm()).includes('198.18.64.3:8080'), 60_000);
    // IPVS ops come first in a sync; the VIP on kube-dummy-if, its local route, the sets and the chains
    // follow in the same sync. Traffic is tried only once a sync has committed after the destinations
    // appeared (the next one at the latest: the periodic sync is 5 s), never in between.
    const committed = h.lines.length;
    await h.until('a proxy sync committed after that', () => h?.lines.slice(committed).some((l) => l.includes('proxy sync')) ?? false, 60_000);
    const both = (port: number): string[] => podIPs.map((ip) => `${ip}:${port} Masq 1`);
    assert.deepEqual(
      Object.fromEntries(await table()),
      {
        [`TCP ${CIP}:80 rr`]: both(8080),
        [`UDP ${CIP}:53 rr`]: both(5353),
        [`TCP ${NODE_IP}:30080 rr`]: both(8080),
        [`UDP ${NODE_IP}:30053 rr`]: both(5353),
        'TCP 198.18.200.1:443 wrr': ['198.18.64.9:443 Masq 1'],
      },
      await ipvsadm(),
    );
    // `kube-router proxy services` on IPVS: our services as the kernel holds them, never the foreign one.
    const inspected = (await h.controller.inspect['/proxy/services']?.(new URLSearchParams())) as { service: string; frontend: string; datapath: string; state: string; programmed: { addr: string; weight?: number }[] }[];
    const v4 = inspected.filter((r) => !r.frontend.startsWith('['));
    assert.deepEqual(
      v4.map((r) => `${r.service} ${r.frontend} ${r.datapath} ${r.state} ${r.programmed.map((b) => `${b.addr}/${String(b.weight)}`).join(',')}`),
      [
        `default/web:dns ${NODE_IP}:30053/udp ipvs serving ${podIPs.map((ip) => `${ip}:5353/1`).join(',')}`,
        `default/web:dns ${CIP}:53/udp ipvs serving ${podIPs.map((ip) => `${ip}:5353/1`).join(',')}`,
        `default/web:http ${NODE_IP}:30080/tcp ipvs serving ${podIPs.map((ip) => `${ip}:8080/1`).join(',')}`,
        `default/web:http ${CIP}:80/tcp ipvs serving ${podIPs.map((ip) => `${ip}:8080/1`).join(',')}`,
      ],
    );
    assert.ok(!inspected.some((r) => r.frontend.startsWith('198.18.200.1')), 'the foreign virtual service is not ours to show');
    // Upstream kube-router's leftovers: its recorded service adopted and removed (the table above has
    // no 198.18.128.99), its masquerade rule and its jump gone, ours in their place.
    const nat = await inNs(N, 'iptables-save', '-t', 'nat');
    assert.doesNotMatch(nat, /--comment "" -j SNAT/, nat);
    assert.match(nat, /-A KUBE-ROUTER-SVC-MASQ -m ipvs --vdir ORIGINAL --vmethod MASQ -j MASQUERADE/);
    const filterRules = await inNs(N, 'iptables-save', '-t', 'filter');
    assert.doesNotMatch(filterRules, /handle traffic to IPVS service IPs in custom chain/);
    assert.match(filterRules, /-A INPUT -m comment --comment "kube-router ipvs service filter"/);
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add((await curl(N, `http://${CIP}/`)).split(' ')[0] ?? '');
    assert.deepEqual([...seen].sort(), ['default/p1', 'default/p2']);
    assert.ok(h.lines.some((l) => l.includes('service proxy backend: ipvs')));
  });

  it('UDP through the ClusterIP; NodePort from outside over TCP and UDP, masqueraded; an unserved port on the VIP is refused', async () => {
    const fromPod = await udp(P3, `${CIP}:53`);
    assert.match(fromPod, /^default\/p[12] client=198\.18\.64\.4$/, `a pod keeps its source: ${fromPod}`);
    const np = await curl(C, `http://${NODE_IP}:30080/`);
    assert.match(np, /^default\/p[12] client=198\.18\.64\.1$/, `NodePort traffic from outside is masqueraded: ${np}`);
    assert.match(await udp(C, `${NODE_IP}:30053`), /^default\/p[12] client=/);
    assert.equal(await curl(N, `http://${CIP}:81/`), 'REFUSED');
    // Upstream's per-service counters, read from the kernel at scrape time. The kernel folds its per-CPU
    // counters into what it reports every 2 s (IPVS's estimator), so the scrape waits for that.
    let text = '';
    const conns = (vip: string, proto: string, port: number): number => Number(new RegExp(`^kube_router_service_total_connections\\{svc_namespace="default",service_name="web",service_vip="${vip.replace(/\./g, '\\.')}",protocol="${proto}",port="${port}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
    await h?.until(
      'the kernel counted the connections',
      async () => {
        text = (await h?.metrics.registry.metrics()) ?? '';
        return conns(CIP, 'tcp', 80) >= 6 && conns(NODE_IP, 'tcp', 30080) >= 1;
      },
      20_000,
    );
    assert.ok(!text.includes('198.18.200.1'), 'services that are not ours are not reported');
  });

  it('IPv6: a ClusterIP and a NodePort over IPv6 (ip6tables, inet6 sets, a /128 VIP with its local route)', async () => {
    const CIP6 = '2001:db8:128::10';
    // What the router controller sets on a node: bridged IPv6 pod traffic goes through netfilter (and
    // IPVS), so a backend's reply to a pod on the same bridge is un-NATed. (Only here: see the note.)
    await sh.run(['modprobe', 'br_netfilter']).catch(() => undefined);
    const before6 = (await inNs(N, 'sysctl', '-n', 'net.bridge.bridge-nf-call-ip6tables').catch(() => '0')).trim();
    await inNs(N, 'sysctl', '-qw', 'net.bridge.bridge-nf-call-ip6tables=1');
    // A dual-stack node has an IPv6 pod range too: pod sources in it keep their address.
    await h?.client.patch('Node', undefined, 'node-a', { spec: { podCIDRs: ['198.18.64.0/24', '2001:db8:64::/64'] } });
    await h?.until('the IPv6 pod range exempt from masquerade', async () => (await inNs(N, 'ip6tables-save', '-t', 'nat')).includes('-s 2001:db8:64::/64 -j RETURN'), 30_000);
    await h?.client.create(service('web6', { type: 'NodePort', ipFamilies: ['IPv6'], clusterIP: CIP6, clusterIPs: [CIP6], ports: [{ name: 'http', port: 80, nodePort: 30081, protocol: 'TCP' }] }));
    await h?.client.create(slice('web6', [{ ip: '2001:db8:64::2' }, { ip: '2001:db8:64::3' }], [{ name: 'http', port: 8080 }], { family: 'IPv6' }));
    await h?.until('IPv6 services', async () => (await table()).get(`TCP [${CIP6}]:80 rr`)?.length === 2, 30_000).catch(async (e: unknown) => {
      throw new Error(`${String(e)}\n${await ipvsadm()}`);
    });
    assert.deepEqual((await table()).get('TCP [2001:db8::10]:30081 rr'), ['[2001:db8:64::2]:8080 Masq 1', '[2001:db8:64::3]:8080 Masq 1']);
    const fromPod = await curl(P3, `http://[${CIP6}]/`);
    assert.match(fromPod, /^default\/p[12] client=2001:db8:64::4$/, fromPod);
    const fromOutside = await curl(C, 'http://[2001:db8::10]:30081/');
    assert.match(fromOutside, /^default\/p[12] client=/, fromOutside);
    assert.ok(!fromOutside.endsWith('client=2001:db8::3'), `NodePort traffic from outside is masqueraded over IPv6 too: ${fromOutside}`);
    assert.equal(await curl(P3, `http://[${CIP6}]:81/`), 'REFUSED');
    assert.match(await inNs(N, 'ip', '-6', 'route', 'show', 'table', 'local', `${CIP6}/128`), /dev kube-dummy-if .*src 2001:db8::10/);
    await h?.client.delete('Service', 'default', 'web6');
    await h?.until('IPv6 service gone', async () => ![...(await table()).keys()].some((k) => k.includes(CIP6)), 30_000);
    await inNs(N, 'sysctl', '-qw', `net.bridge.bridge-nf-call-ip6tables=${before6 || '0'}`);
  });

  it('a scheduler annotation changes the service in place; one endpoint change is one destination change', async () => {
    await h?.client.patch('Service', 'default', 'web', { metadata: { annotations: { 'kube-router.io/service.scheduler': 'sh', 'kube-router.io/service.schedflags': 'flag-1,flag-2' } } });
    await h?.until('sh', async () => [...(await table()).keys()].some((k) => k.startsWith(`TCP ${CIP}:80 sh`)), 30_000);
    const sh80 = (await ipvs.services()).find((x) => 'address' in x.id && x.id.address === CIP && x.id.port === 80);
    assert.deepEqual(sh80?.flags, { sched1: true, sched2: true }, `scheduler flags read back from the kernel; ipvsadm shows ${[...(await table()).keys()].join(' | ')}`);
    const updates = h?.lines.length ?? 0;
    await h?.client.patch('Service', 'default', 'web', { metadata: { annotations: { 'kube-router.io/service.scheduler': 'rr', 'kube-router.io/service.schedflags': '' } } });
    await h?.until('rr', async () => (await table()).has(`TCP ${CIP}:80 rr`), 30_000);
    // One endpoint more: its destination appears in every service of the port, nothing else moves.
    const before = await table();
    await h?.client.update(eps(...podIPs, '198.18.64.4'));
    await h?.until('third destination', async () => (await table()).get(`TCP ${CIP}:80 rr`)?.length === 3, 30_000);
    const afterAdd = await table();
    assert.deepEqual(afterAdd.get(`TCP ${CIP}:80 rr`), [...(before.get(`TCP ${CIP}:80 rr`) ?? []), '198.18.64.4:8080 Masq 1']);
    assert.deepEqual(afterAdd.get('TCP 198.18.200.1:443 wrr'), before.get('TCP 198.18.200.1:443 wrr'));
    await h?.client.update(eps(...podIPs));
    await h?.until('back to two', async () => (await table()).get(`TCP ${CIP}:80 rr`)?.length === 2, 30_000);
    assert.ok((h?.lines.slice(updates) ?? []).every((l) => !l.includes('sync failed')), h?.lines.slice(updates).join('\n'));
  });

  it('graceful termination: a removed endpoint keeps weight 0 while a connection is open, then goes', async () => {
    // Hold a TCP connection to p2 through the VIP (sh on the client address would pin it; rr alternates).
    let held: Promise<string> | undefined;
    for (let i = 0; i < 4 && !held; i++) {
      const probe = inNs(N, 'node', join(DIST, 'lab/probe-client.js'), '--to', `${CIP}:80`, '--proto', 'tcp', '--timeout-ms', '8000', '--keep-ms', '20000');
      await new Promise((r) => setTimeout(r, 4000));
      if ((await ipvsadm()).match(/-> 198\.18\.64\.3:8080\s+Masq\s+1\s+1\s/)) held = probe;
      else await probe.catch(() => '');
    }
    assert.ok(held, `a connection to p2 is open\n${await ipvsadm()}`);
    await h?.client.update(eps('198.18.64.2'));
    await h?.until('weight 0', async () => /-> 198\.18\.64\.3:8080\s+Masq\s+0\s+1\s/.test(await ipvsadm()), 30_000);
    for (let i = 0; i < 4; i++) assert.match(await curl(N, `http://${CIP}/`), /^default\/p1/, 'no new connections to the draining endpoint');
    await held.catch(() => '');
    await h?.until('drained and deleted', async () => !(await ipvsadm()).includes('198.18.64.3:8080'), 90_000);
  });

  it('hairpin: a pod reaches itself through its service (SNAT to the VIP), only where the service asks for it', async () => {
    const SOLO = '198.18.128.11';
    const solo = (annotations: Record<string, string>) => service('solo', { type: 'ClusterIP', clusterIP: SOLO, clusterIPs: [SOLO], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }, { annotations });
    await h?.client.create(solo({}));
    await h?.client.create(slice('solo', [{ ip: '198.18.64.2' }], [{ name: 'http', port: 8080 }]));
    await h?.until('solo programmed', async () => (await table()).get(`TCP ${SOLO}:80 rr`)?.length === 1, 30_000);
    assert.equal(await curl(pods[0] as string, `http://${SOLO}/`), 'REFUSED', 'without hairpin the reply never comes back');
    await h?.client.patch('Service', 'default', 'solo', { metadata: { annotations: { 'kube-router.io/service.hairpin': '' } } });
    // (iptables-save prints a host --vaddr without its /32)
    const rule = new RegExp(`-s 198\\.18\\.64\\.2(/32)? -d 198\\.18\\.64\\.2(/32)? -m ipvs --vaddr ${SOLO.replace(/\./g, '\\.')}(/32)? --vport 80 -j SNAT --to-source ${SOLO.replace(/\./g, '\\.')}`);
    await h?.until('hairpin rule', async () => rule.test(await inNs(N, 'iptables-save', '-t', 'nat')), 30_000).catch(async (e: unknown) => {
      throw new Error(`${String(e)}\n${await inNs(N, 'iptables-save', '-t', 'nat')}`);
    });
    assert.equal(await curl(pods[0] as string, `http://${SOLO}/`), `default/p1 client=${SOLO}`);
    await h?.client.delete('Service', 'default', 'solo');
    await h?.until('solo gone', async () => !(await table()).has(`TCP ${SOLO}:80 rr`), 30_000);
  });

  it('firewall on IPVS: a pod whose egress allows only the endpoints reaches a NodePort of its node and an externalIP, judged against the endpoint after IPVS; refused at the address without the exemption', async () => {
    const EXT = '198.18.210.1';
    await h?.client.patch('Service', 'default', 'web', { spec: { externalIPs: [EXT] } });
    await h?.until('externalIP served', async () => (await table()).has(`TCP ${EXT}:80 rr`), 30_000);
    const exec = netnsExec(sh, N);
    const ipt = new RealIptables(exec, 4, await detectIptablesVariant(exec));
    const ipset = new RealIpset(exec);
    const backend = new IptablesFirewallBackend(4, ipt, ipset);
    const kube = (raw: Record<string, unknown>): KubeObject => toKubeObject(raw) as KubeObject;
    const podObj = (name: string, ip: string, app: string): KubeObject => kube({ metadata: { namespace: 'default', name, labels: { app } }, spec: { nodeName: 'node-a' }, status: { phase: 'Running', podIPs: [{ ip }] } });
    /** Our firewall's model on the real kernel of the node: p3 (a client) may only reach app=web on `port`. */
    const program = async (exempt: boolean, port: number): Promise<void> => {
      const t = new FirewallTracker('node-a', [4], { defaultDeny: false, serviceClusterIPRanges: ['198.18.128.0/20' as CIDR], sctp: true, ...(exempt ? { serviceExemptions: { nodePorts: { min: 30000, max: 32767 } } } : {}) });
      t.setNode({ name: 'node-a', podCIDRs: ['198.18.64.0/24' as CIDR] });
      t.setNamespace('default', { name: 'default', labels: {} });
      t.setPod('default/p1', parsePod(podObj('p1', '198.18.64.2', 'web')));
      t.setPod('default/p2', parsePod(podObj('p2', '198.18.64.3', 'web')));
      t.setPod('default/p3', parsePod(podObj('p3', '198.18.64.4', 'client')));
      const r = parsePolicy(kube({ metadata: { namespace: 'default', name: 'client-egress' }, spec: { podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port }] }] } }));
      assert.equal(r.kind, 'policy');
      if (r.kind === 'policy') t.setPolicy('default/client-egress', r.policy);
      t.setServiceVips('default/web', [EXT]);
      const { changed } = t.chains();
      await backend.sync(t.desired(4) as NonNullable<ReturnType<FirewallTracker['desired']>>, new Map(), changed, true);
    };
    const targets = [`http://${NODE_IP}:30080/`, `http://${EXT}/`, `http://${CIP}/`];
    const from3 = async (): Promise<string[]> => Promise.all(targets.map(async (u) => ((await curl(P3, u)).startsWith('default/p') ? 'ok' : 'refused')));
    try {
      await program(false, 8080);
      assert.deepEqual(await from3(), ['refused', 'refused', 'ok'], 'without the exemption: NodePort and externalIP refused at the address (INPUT), the ClusterIP range was always exempt');
      await program(true, 8080);
      assert.deepEqual(await from3(), ['ok', 'ok', 'ok'], 'with it: judged against the endpoint, which the policy allows');
      await program(true, 9999);
      assert.deepEqual(await from3(), ['refused', 'refused', 'refused'], 'an egress policy that does not allow the endpoint refuses every way in');
    } finally {
      await removeIptablesFirewall(4, ipt, ipset);
      await h?.client.patch('Service', 'default', 'web', { spec: { externalIPs: null } });
    }
  });

  it('the foreign virtual service survived every sync; cleanup removes exactly ours', async () => {
    await h?.close();
    h = undefined;
    assert.ok((await ipvsadm()).includes('TCP  198.18.200.1:443 wrr'));
    const exec = netnsExec(sh, N);
    // The controller closed its IPVS socket when it stopped; cleanup opens its own, as --cleanup-config does.
    const fresh = await openIpvs(realNetlinkSockets(), { netns: N });
    assert.ok(fresh);
    const removed = await cleanupIpvs(fresh, new RealIpset(exec));
    fresh.close();
    assert.equal(removed, 4);
    const variant = await detectIptablesVariant(exec);
    await cleanupIptables(new RealIptables(exec, 4, variant));
    await cleanupIptables(new RealIptables(exec, 6, variant));
    await cleanupIpsets(new RealIpset(exec));
    const after = await ipvsadm();
    assert.ok(after.includes('TCP  198.18.200.1:443 wrr') && after.includes('198.18.64.9:443'), after);
    assert.ok(!after.includes(CIP) && !after.includes(`${NODE_IP}:30080`), after);
  });
});
