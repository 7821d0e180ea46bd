import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { JsonObject } from '../../fixture/apiserver/index.js';
import { apply, client, destroyLab, inspectSocket, probe, remove, startDaemon, status, up, waitHealthy } from '../../lab/lab.js';
import { execFileSync } from 'node:child_process';
import { openCri } from '../../pkg/cri/client.js';
import { KUBE_ROUTER_BIN } from '../../test/paths.js';
import { netns } from '../../lab/plan.js';
import { ipn } from '../../lab/sh.js';
import { saveState, type LabState } from '../../lab/state.js';
import { isAlive } from '../../lab/processes.js';
import { removeStaleTestLabs, testLabName } from '../../test/lab-names.js';

const LAB = testLabName('lp');

const docs = (yaml: string): JsonObject[] => parseAllDocuments(yaml).map((d) => d.toJS() as JsonObject);
const pod = (name: string, app: string, node = 'node-1'): string => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, labels: {app: ${app}}}
spec: {nodeName: ${node}, containers: [{name: c, ports: [{name: http, containerPort: 8080}, {name: dns, containerPort: 5353, protocol: UDP}]}]}
---`;
const APP = `
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  externalIPs: [198.19.0.10]
  ports: [{name: http, port: 80, targetPort: http}, {name: dns, port: 53, targetPort: dns, protocol: UDP}]
---
apiVersion: v1
kind: Service
metadata: {name: web-local}
spec: {type: NodePort, externalTrafficPolicy: Local, selector: {app: web}, ports: [{name: http, port: 80, targetPort: http}]}
---
apiVersion: v1
kind: Service
metadata: {name: sticky}
spec: {selector: {app: web}, sessionAffinity: ClientIP, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: solo, annotations: {kube-router.io/service.hairpin: ""}}
spec: {selector: {app: solo}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: by-source, annotations: {kube-router.io/service.scheduler: sh}}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: by-source-port, annotations: {kube-router.io/service.scheduler: mh, kube-router.io/service.schedflags: "flag-1,flag-2"}}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: by-destination, annotations: {kube-router.io/service.scheduler: dh}}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: least-conn, annotations: {kube-router.io/service.scheduler: lc}}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
${pod('web-1', 'web')}
${pod('web-2', 'web')}
${pod('solo', 'solo')}
${pod('client', 'client')}
`;

interface Svc {
  name: string;
  clusterIPs: string[];
  ports: { name: string; port: number; nodePort?: number }[];
}

describe('service proxy end to end in the lab (real nftables, real packets)', function () {
  this.timeout(180_000);
  let st: LabState;
  let svcs: Svc[];
  const quiet = (): void => undefined;
  const svc = (name: string): Svc => svcs.find((s) => s.name === name) as Svc;
  const cip = (name: string): string => svc(name).clusterIPs[0] as string;
  const nodePort = (name: string, port = 'http'): number => svc(name).ports.find((p) => p.name === port)?.nodePort as number;
  const answers = async (from: string, to: string, n: number, proto: 'tcp' | 'udp' = 'tcp'): Promise<string[]> => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = await probe(st, from, to, proto, 2000);
      out.push(r.ok ? (r.answer as string) : 'REFUSED');
    }
    return out;
  };

  before(async () => {
    await removeStaleTestLabs('lp');
    await destroyLab(LAB);
    st = await up({ name: LAB, nodes: 2, subnets: 1, peer: 'none', ipv6: false, daemonArgs: [] }, quiet);
    await apply(st, docs(APP), quiet);
    svcs = (await status(st))['services'] as Svc[];
    // The external client reaches the externalIP through node-1 (what a BGP peer would advertise).
    await ipn(netns.external(LAB), 'route', 'add', '198.19.0.10/32', 'via', '198.18.0.11');
    await new Promise((r) => setTimeout(r, 500));
  });
  after(async () => {
    await destroyLab(LAB);
  });

  it('this kernel has no IPVS: auto falls back to nftables and says so once', () => {
    const log = readFileSync(join(st.dir, 'node-1.log'), 'utf8');
    assert.equal(log.split('\n').filter((l) => l.includes('service proxy backend: nftables (auto: this kernel has no IPVS)')).length, 1, log.slice(0, 3000));
  });

  it('ClusterIP over TCP spreads over both endpoints and keeps the pod source', async () => {
    const a = await answers('default/client', `${cip('web')}:80`, 16);
    assert.deepEqual([...new Set(a)].sort(), ['default/web-1', 'default/web-2'], a.join());
    const r = await probe(st, 'default/client', `${cip('web')}:80`, 'tcp', 2000);
    const clientIP = st.pods.find((p) => p.name === 'client')?.ips[0];
    assert.equal(r.client, clientIP, 'pod-to-service keeps the pod address (NetworkPolicy relies on it)');
  });

  it('ClusterIP over UDP', async () => {
    const a = await answers('default/client', `${cip('web')}:53`, 8, 'udp');
    assert.ok(a.every((x) => x === 'default/web-1' || x === 'default/web-2'), a.join());
  });

  it('NodePort and externalIP from outside the cluster, TCP and UDP, masqueraded', async () => {
    const r = await probe(st, 'external', `198.18.0.11:${nodePort('web')}`, 'tcp', 2000);
    assert.ok(r.ok && /default\/web-[12]/.test(r.answer ?? ''), r.output);
    assert.notEqual(r.client, '198.18.0.3', 'traffic from outside to a NodePort is masqueraded (upstream)');
    const u = await probe(st, 'external', `198.18.0.11:${nodePort('web', 'dns')}`, 'udp', 2000);
    assert.ok(u.ok, u.output);
    const e = await probe(st, 'external', '198.19.0.10:80', 'tcp', 2000);
    assert.ok(e.ok && /default\/web-[12]/.test(e.answer ?? ''), e.output);
    const eu = await probe(st, 'external', '198.19.0.10:53', 'udp', 2000);
    assert.ok(eu.ok, eu.output);
  });

  it('externalTrafficPolicy Local: the client address is kept; a node without local endpoints refuses', async () => {
    const r = await probe(st, 'external', `198.18.0.11:${nodePort('web-local')}`, 'tcp', 2000);
    assert.ok(r.ok, r.output);
    assert.equal(r.client, '198.18.0.3');
    const other = await probe(st, 'external', `198.18.0.12:${nodePort('web-local')}`, 'tcp', 1500);
    assert.equal(other.ok, false, other.output);
  });

  it('ClientIP affinity sticks to one endpoint', async () => {
    const a = await answers('default/client', `${cip('sticky')}:80`, 10);
    assert.equal(new Set(a).size, 1, a.join());
  });

  it('hashing schedulers on nftables: sh and dh keep a client on one endpoint, mh with flag-2 hashes the source port too; lc gets a Warning Event', async () => {
    // 16 connections from one client: a random pick would land them all on one of two endpoints with odds 2^-15.
    for (const name of ['by-source', 'by-destination']) {
      const a = await answers('default/client', `${cip(name)}:80`, 16);
      assert.equal(new Set(a).size, 1, `${name}: ${a.join()}`);
      assert.ok(/default\/web-[12]/.test(a[0] ?? ''), a.join());
    }
    const spread = await answers('default/client', `${cip('by-source-port')}:80`, 16);
    assert.deepEqual([...new Set(spread)].sort(), ['default/web-1', 'default/web-2'], spread.join());
    // What decides is in the kernel: jhash over the fields each scheduler hashes, not a random number.
    const table = execFileSync('ip', ['netns', 'exec', netns.node(LAB, 0), 'nft', 'list', 'table', 'ip', 'kube-router-proxy'], { encoding: 'utf8' });
    for (const expr of ['jhash ip saddr mod 2 seed 0x6b72', 'jhash ip saddr . th sport mod 2 seed 0x6b72', 'jhash ip daddr mod 2 seed 0x6b72']) assert.ok(table.includes(expr), `${expr} in\n${table}`);
    // lc has no stateless form: served at random, and the Service says why.
    const lc = await answers('default/client', `${cip('least-conn')}:80`, 16);
    assert.deepEqual([...new Set(lc)].sort(), ['default/web-1', 'default/web-2'], lc.join());
    const deadline = Date.now() + 30_000;
    for (;;) {
      const events = (await client(st).list('Event', 'default')).filter((e) => (e['involvedObject'] as JsonObject)['name'] === 'least-conn' && e['type'] === 'Warning');
      if (events.some((e) => String(e['message']).includes('needs the IPVS datapath'))) break;
      assert.ok(Date.now() < deadline, `no Warning Event on least-conn: ${JSON.stringify(events)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  });

  it("the lab's container runtime names each pod's process over the CRI, as the kubelet's status names the container; DSR on nftables is a Warning Event", async () => {
    const web1 = st.pods.find((p) => p.name === 'web-1');
    assert.ok(web1);
    const obj = await client(st).get('Pod', 'default', 'web-1');
    const statuses = ((obj?.['status'] as JsonObject | undefined)?.['containerStatuses'] ?? []) as JsonObject[];
    assert.equal(statuses[0]?.['containerID'], `lab://${web1.containerId}`);
    const cri = openCri(`unix://${join(st.dir, 'cri.sock')}`);
    try {
      assert.equal(await cri.containerPid(web1.containerId), web1.pid);
    } finally {
      cri.close();
    }
    await apply(st, docs(`apiVersion: v1
kind: Service
metadata: {name: direct, annotations: {kube-router.io/service.dsr: tunnel}}
spec: {selector: {app: web}, externalIPs: [198.19.0.11], ports: [{name: http, port: 8080, targetPort: 8080}]}`), quiet);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const events = (await client(st).list('Event', 'default')).filter((e) => (e['involvedObject'] as JsonObject)['name'] === 'direct' && e['type'] === 'Warning');
      if (events.some((e) => String(e['message']).includes('kube-router.io/service.dsr needs the IPVS datapath'))) break;
      assert.ok(Date.now() < deadline, `no Warning Event on direct: ${JSON.stringify(events)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  });

  it('hairpin: a pod reaches itself through its service, with its source rewritten', async () => {
    const r = await probe(st, 'default/solo', `${cip('solo')}:80`, 'tcp', 2000);
    assert.equal(r.answer, 'default/solo', r.output);
    assert.notEqual(r.client, st.pods.find((p) => p.name === 'solo')?.ips[0]);
  });

  it('a port no service serves on a ClusterIP is refused', async () => {
    assert.equal((await probe(st, 'default/client', `${cip('web')}:8081`, 'tcp', 1000)).ok, false);
  });

  it('kube-router proxy services: every frontend with the backends the kernel holds, matching the nftables maps', () => {
    const cli = (...args: string[]): string => execFileSync('node', [KUBE_ROUTER_BIN, 'proxy', 'services', ...args, '--socket', inspectSocket(st, 'node-1')], { encoding: 'utf8' });
    const rows = JSON.parse(cli('default/web', '--json')) as { service: string; frontend: string; kind: string; datapath: string; state: string; wanted: string[]; programmed: { addr: string }[] }[];
    const pods = st.pods.filter((p) => p.name.startsWith('web-')).map((p) => p.ips[0]);
    const http = rows.find((r) => r.service === 'default/web:http' && r.kind === 'cluster');
    assert.ok(http, JSON.stringify(rows));
    assert.equal(http.frontend, `${cip('web')}:80/tcp`);
    assert.equal(http.datapath, 'nftables');
    assert.equal(http.state, 'serving');
    assert.deepEqual(http.programmed.map((b) => b.addr), pods.map((ip) => `${ip}:8080`).sort());
    assert.ok(rows.some((r) => r.kind === 'nodeport' && r.frontend === `198.18.0.11:${nodePort('web')}/tcp` && r.state === 'serving'));
    assert.ok(rows.some((r) => r.kind === 'external' && r.frontend === '198.19.0.10:80/tcp'));
    // The same backends, read independently from the kernel's maps.
    const table = execFileSync('ip', ['netns', 'exec', netns.node(LAB, 0), 'nft', 'list', 'table', 'ip', 'kube-router-proxy'], { encoding: 'utf8' });
    for (const b of http.programmed) {
      const [ip, port] = b.addr.split(':');
      assert.match(table, new RegExp(`${cip('web').replaceAll('.', '\\.')} \\. tcp \\. 80 \\. \\d+ : ${(ip ?? '').replaceAll('.', '\\.')} \\. ${port ?? ''}`));
    }
    const all = JSON.parse(cli('--json')) as { service: string; state: string }[];
    assert.ok(all.some((r) => r.service === 'default/solo:http'), 'without a name: every service');
    assert.deepEqual(all.filter((r) => r.state !== 'serving' && r.state !== 'rejecting'), [], 'the kernel holds what the proxy wants');
    assert.match(cli(), /^service\s+frontend\s+kind\s+datapath\s+state/);
  });

  it('survives a daemon restart without dropping an established connection', async () => {
    const held = probe(st, 'default/client', `${cip('web')}:80`, 'tcp', 3000, 4000);
    await new Promise((r) => setTimeout(r, 800));
    const pid = st.daemons['node-1'] as number;
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    st.daemons['node-1'] = startDaemon(st, 0);
    saveState(st);
    await waitHealthy(st, 0, 30_000);
    const r = await held;
    assert.ok(r.ok && /default\/web-[12]/.test(r.answer ?? ''), `held connection: ${r.output}`);
  });

  it("takes over a node from kube-proxy (with --cleanup-kube-proxy) and from upstream kube-router: their stale rules are gone and the Service answers", async () => {
    const ns = netns.node(LAB, 1);
    const sh = (cmd: string[], input?: string): string => execFileSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
    const restart = async (extra: string[]): Promise<void> => {
      const pid = st.daemons['node-2'] as number;
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
      st.daemons['node-2'] = startDaemon({ ...st, daemonArgs: [...st.daemonArgs, ...extra] }, 1);
      saveState(st);
      await waitHealthy(st, 1, 30_000);
    };
    const log = (): string => readFileSync(join(st.dir, 'node-2.log'), 'utf8');
    // What kube-proxy in iptables mode writes for web's ClusterIP (its chains, its hashed per-service
    // chains, a stale endpoint nobody serves) and in nftables mode, plus its IPVS-mode set; the kubelet's
    // own KUBE-FIREWALL stays. Then what upstream kube-router's IPVS proxy leaves that a kernel without
    // IPVS can hold: its sets, its filter chain with upstream's jump, its DSR policy rule.
    const vip = cip('web');
    sh(['iptables-nft-restore', '--noflush'], [
      '*nat', ':KUBE-SERVICES - [0:0]', ':KUBE-SVC-ABCDEFGHIJKLMNOP - [0:0]', ':KUBE-SEP-QRSTUVWXYZ234567 - [0:0]', ':KUBE-MARK-MASQ - [0:0]', ':KUBE-POSTROUTING - [0:0]',
      '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
      `-A KUBE-SERVICES -d ${vip}/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-ABCDEFGHIJKLMNOP`,
      '-A KUBE-SVC-ABCDEFGHIJKLMNOP -j KUBE-SEP-QRSTUVWXYZ234567',
      '-A KUBE-SEP-QRSTUVWXYZ234567 -p tcp -m tcp -j DNAT --to-destination 198.18.64.250:8080',
      '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
      'COMMIT',
      '*filter', ':KUBE-FIREWALL - [0:0]', ':KUBE-PROXY-FIREWALL - [0:0]', ':KUBE-ROUTER-SERVICES - [0:0]',
      '-A INPUT -j KUBE-FIREWALL',
      '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
      '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
      'COMMIT', '',
    ].join('\n'));
    sh(['ipset', 'restore'], 'create KUBE-CLUSTER-IP hash:ip,port\ncreate kube-router-svip hash:ip\ncreate kube-router-svip-prt hash:ip,port\nadd kube-router-svip-prt 198.18.128.99,tcp:80\n');
    sh(['iptables-nft-restore', '--noflush'], '*filter\n-A INPUT -m comment --comment "handle traffic to IPVS service IPs in custom chain" -m set --match-set kube-router-svip dst -j KUBE-ROUTER-SERVICES\nCOMMIT\n');
    sh(['nft', '-f', '-'], 'add table ip kube-proxy\nadd chain ip kube-proxy nat-output { type nat hook output priority -100 ; }\n');
    sh(['ip', 'rule', 'add', 'fwmark', '0x1', 'lookup', '78', 'priority', '32764']);

    await restart([]);
    const warned = log().split('\n').filter((l) => l.includes("kube-proxy's objects are on this node and were left in place"));
    assert.equal(warned.length, 1, 'one warning names them');
    for (const name of ['nftables table ip kube-proxy', 'chain KUBE-SERVICES', 'chain KUBE-SVC-ABCDEFGHIJKLMNOP', 'ipset KUBE-CLUSTER-IP']) assert.ok(warned[0]?.includes(name), `${name} in ${warned[0]}`);
    assert.ok(!warned[0]?.includes('KUBE-FIREWALL'), "the kubelet's chain is not kube-proxy's");
    assert.match(sh(['iptables-nft-save', '-t', 'nat']), /KUBE-SVC-ABCDEFGHIJKLMNOP/, 'left in place without the flag');
    // Upstream kube-router's objects go whatever the flag (this node runs the nftables datapath).
    const filter = sh(['iptables-nft-save', '-t', 'filter']);
    assert.doesNotMatch(filter, /KUBE-ROUTER-SERVICES/);
    assert.doesNotMatch(sh(['ipset', 'list', '-n']), /kube-router-svip/);
    assert.doesNotMatch(sh(['ip', 'rule']), /lookup 78/);

    await restart(['--cleanup-kube-proxy']);
    const nat = sh(['iptables-nft-save', '-t', 'nat']);
    for (const chain of ['KUBE-SERVICES', 'KUBE-SVC-', 'KUBE-SEP-', 'KUBE-MARK-MASQ', 'KUBE-POSTROUTING']) assert.ok(!nat.includes(chain), `${chain} removed:\n${nat}`);
    const filter2 = sh(['iptables-nft-save', '-t', 'filter']);
    assert.match(filter2, /-A INPUT -j KUBE-FIREWALL/, "the kubelet's chain and jump stay");
    assert.doesNotMatch(filter2, /KUBE-PROXY-FIREWALL/);
    assert.doesNotMatch(sh(['ipset', 'list', '-n']), /KUBE-CLUSTER-IP/);
    assert.doesNotMatch(sh(['nft', 'list', 'tables']), /kube-proxy/);
    assert.match(sh(['nft', 'list', 'tables']), /kube-router-proxy/);
    // The node's own traffic to the Service reaches the real endpoints, never kube-proxy's stale one.
    const a = await answers('node/node-2', `${vip}:80`, 8);
    assert.ok(a.every((x) => x === 'default/web-1' || x === 'default/web-2'), a.join());
  });

  it('an endpoint that goes away gets no more connections, TCP or UDP', async () => {
    await remove(st, docs(pod('web-2', 'web').replace(/---\s*$/, '')));
    await new Promise((r) => setTimeout(r, 1000));
    const a = await answers('default/client', `${cip('web')}:80`, 10);
    assert.deepEqual([...new Set(a)], ['default/web-1'], a.join());
    const u = await answers('default/client', `${cip('web')}:53`, 4, 'udp');
    assert.deepEqual([...new Set(u)], ['default/web-1'], u.join());
  });
});
