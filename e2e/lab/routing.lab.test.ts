import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIST, KUBE_ROUTER_BIN } from '../../test/paths.js';
import { startInNetns } from '../../test/ns-process.js';
import type { JsonObject } from '../../fixture/apiserver/index.js';
import { apply, client, destroyLab, inspectSocket, probe, startDaemon, up, waitHealthy } from '../../lab/lab.js';
import { netns, podCidr } from '../../lab/plan.js';
import { isAlive } from '../../lab/processes.js';
import { ipn, nsRun } from '../../lab/sh.js';
import type { LabState } from '../../lab/state.js';
import { removeStaleTestLabs, testLabName } from '../../test/lab-names.js';
import { withoutNexthopIds } from '../../test/route-text.js';
import { OWNED_NEXTHOP_IDS } from '../../pkg/linux/netlink/types.js';

const LAB = testLabName('lr');
const quiet = (): void => undefined;
const pod = (name: string, node: string): JsonObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: name } }, spec: { nodeName: node, containers: [{ name: 'c', ports: [{ containerPort: 8080 }] }] } });

/** Pod networking over our BGP mesh with real packets: 3 nodes on one subnet (host-gw routes). */
describe('routing in the lab: the iBGP mesh, learned routes, nodes leaving and coming back', function () {
  this.timeout(180_000);
  let st: LabState;
  const routes = async (i: number): Promise<string> => withoutNexthopIds((await ipn(netns.node(LAB, i), 'route', 'show', 'proto', '44')).stdout);
  const until = async (what: string, cond: () => Promise<boolean>, ms = 20_000): Promise<number> => {
    const t0 = Date.now();
    while (!(await cond())) {
      if (Date.now() - t0 > ms) assert.fail(`${what} (after ${ms} ms)\nnode-1: ${await routes(0)}node-2: ${await routes(1)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return Date.now() - t0;
  };
  const reach = async (from: string, to: string): Promise<boolean> => (await probe(st, from, to, 'tcp', 1000)).ok;
  const ip = (name: string): string => st.pods.find((p) => p.name === name)?.ips[0] ?? '';

  before(async () => {
    await removeStaleTestLabs('lr');
    await destroyLab(LAB);
    st = await up({ name: LAB, nodes: 3, subnets: 1, peer: 'none', ipv6: false, daemonArgs: ['--injected-routes-sync-period=2s'] }, quiet);
    await apply(st, [pod('p1', 'node-1'), pod('p2', 'node-2'), pod('p3', 'node-3')], quiet);
  });
  after(async () => {
    await destroyLab(LAB);
  });

  it('every node learns every other node pod CIDR as a direct route; pods reach pods across nodes', async () => {
    await until('mesh routes on every node', async () => {
      const all = await Promise.all([0, 1, 2].map(routes));
      return all.every((r, i) => [0, 1, 2].filter((j) => j !== i).every((j) => r.includes(`${podCidr(j)} via 198.18.0.${11 + j}`)));
    });
    for (const [from, to] of [['p1', 'p2'], ['p2', 'p3'], ['p3', 'p1']] as const) assert.ok(await reach(`default/${from}`, `${ip(to)}:8080`), `${from} → ${to}`);
  });

  it('kube-router bgp peers / routes show the running speaker over its local socket', () => {
    const cli = (what: string): unknown => JSON.parse(execFileSync('node', [KUBE_ROUTER_BIN, 'bgp', what, '--json', '--socket', inspectSocket(st, 'node-1')], { encoding: 'utf8' }));
    const peers = cli('peers') as { address: string; state: string }[];
    assert.deepEqual(peers.map((p) => `${p.address} ${p.state}`), ['198.18.0.12 Established', '198.18.0.13 Established']);
    const routes = cli('routes') as { prefix: string; nextHop: string }[];
    assert.deepEqual(routes.map((r) => `${r.prefix} ${r.nextHop}`).sort(), [`${podCidr(1)} 198.18.0.12`, `${podCidr(2)} 198.18.0.13`]);
  });

  it('kube-router routes: every route of ours in the kernel, installed and explained by the BGP path behind it', async () => {
    const rows = JSON.parse(execFileSync('node', [KUBE_ROUTER_BIN, 'routes', '--json', '--socket', inspectSocket(st, 'node-1')], { encoding: 'utf8' })) as { kind: string; table: number; what: string; via?: string; nexthop?: number; state: string; reason: string; peer?: string }[];
    const kernel = (await ipn(netns.node(LAB, 0), 'route', 'show', 'table', 'all', 'proto', '44')).stdout.trim().split('\n').filter((l) => l !== '');
    const routes = rows.filter((r) => r.kind === 'route');
    assert.equal(routes.length, kernel.length, `${JSON.stringify(routes)} vs ${kernel.join(' | ')}`);
    // Learned routes go through one nexthop object per gateway, ours by protocol and id range.
    const objects = (await ipn(netns.node(LAB, 0), '-j', 'nexthop', 'show')).stdout;
    const ids = new Map((JSON.parse(objects) as { id: number; gateway?: string; protocol: string }[]).filter((n) => n.protocol === '44' && n.id >= OWNED_NEXTHOP_IDS.base && n.id < OWNED_NEXTHOP_IDS.base + OWNED_NEXTHOP_IDS.span).map((n) => [n.id, n.gateway]));
    assert.equal(ids.size, 2, objects);
    for (const line of kernel) {
      const m = /^(\S+) nhid (\d+) via (\S+)/.exec(line);
      assert.ok(m, `${line} goes through a nexthop object`);
      const [, prefix, id, via] = m;
      assert.equal(ids.get(Number(id)), via, `${line}: the object ${id} is ours and goes to ${via ?? ''}`);
      const row = routes.find((r) => r.what === prefix);
      assert.ok(row, `${line} is explained`);
      assert.equal(row.via, via);
      assert.equal(row.nexthop, Number(id), 'kube-router routes names the object');
      assert.equal(row.state, 'installed');
      assert.equal(row.reason, 'bgp');
      assert.equal(row.peer, via, 'learned from the node that owns the pod CIDR');
    }
    const table = execFileSync('node', [KUBE_ROUTER_BIN, 'routes', '--socket', inspectSocket(st, 'node-1')], { encoding: 'utf8' });
    assert.match(table, /^kind\s+table\s+what\s+via/);
  });

  it('pod egress: traffic to the outside world is masqueraded to the node address, pod to pod is not', async () => {
    const outside = startInNetns(netns.external(LAB), ['node', join(DIST, 'lab/workload.js'), '--name', 'outside/world', '--tcp', '8080']);
    try {
      await outside.waitForOutput(/ready/, 10_000);
      const out = await probe(st, 'default/p1', '198.19.200.1:8080', 'tcp', 2000);
      assert.ok(out.ok, out.output);
      assert.equal(out.client, '198.18.0.11', 'the outside sees node-1, not the pod (it has no route to pods)');
      const inside = await probe(st, 'default/p1', `${ip('p2')}:8080`, 'tcp', 2000);
      assert.equal(inside.client, ip('p1'), 'pod to pod keeps the pod address');
      const nat = (await nsRun(netns.node(LAB, 0), 'iptables-save', '-t', 'nat')).stdout;
      assert.equal(nat.split('\n').filter((l) => l.startsWith('-A POSTROUTING ')).indexOf('-A POSTROUTING -m comment --comment "kube-router pod egress" -j KUBE-ROUTER-POD-EGRESS'), 0);
    } finally {
      await outside.stop();
    }
  });

  it('pod traffic still flows when a host sets its FORWARD policy to DROP (as Docker does)', async () => {
    for (const i of [0, 1]) await nsRun(netns.node(LAB, i), 'iptables', '-w', '-P', 'FORWARD', 'DROP');
    try {
      const save = (await nsRun(netns.node(LAB, 0), 'iptables-save', '-t', 'filter')).stdout.split('\n').filter((l) => l.startsWith('-A FORWARD '));
      assert.match(save[0] ?? '', /kube-router netpol/, 'the firewall decides first');
      assert.match(save[save.length - 1] ?? '', /kube-router pod forwarding/, 'our accept rules come last');
      assert.ok(await reach('default/p1', `${ip('p2')}:8080`), 'pod to pod across nodes');
    } finally {
      for (const i of [0, 1]) await nsRun(netns.node(LAB, i), 'iptables', '-w', '-P', 'FORWARD', 'ACCEPT');
    }
  });

  it("takes over a node that ran upstream kube-router's router: its stale pod route, FORWARD and egress rules go once ours are in place; others' routes stay", async () => {
    const ns = netns.node(LAB, 0);
    const pid = st.daemons['node-1'] as number;
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    // What upstream's router leaves, as it writes it: a pod route of protocol 17 (here a stale, more
    // specific one toward an address nobody answers, which would swallow p2's traffic), its FORWARD
    // accept rules and its pod-egress MASQUERADE in POSTROUTING; plus a protocol-17 route that is not
    // to a pod CIDR (FRR uses 17 too), which is not ours to remove.
    const half = podCidr(1).replace(/0\/24$/, '0/25');
    await ipn(ns, 'route', 'add', half, 'via', '198.18.0.250', 'proto', '17');
    await ipn(ns, 'route', 'add', '198.19.77.0/24', 'via', '198.18.0.3', 'proto', '17');
    await nsRun(ns, 'sh', '-c', [
      'iptables -I FORWARD 1 -m comment --comment "allow outbound traffic from pods" -i kube-bridge -j ACCEPT',
      'iptables -I FORWARD 1 -m comment --comment "allow inbound traffic to pods" -o kube-bridge -j ACCEPT',
      'iptables -I FORWARD 1 -m comment --comment "allow outbound node port traffic on node interface with which node ip is associated" -o eth0 -j ACCEPT',
      'iptables -t nat -A POSTROUTING -m set --match-set kube-router-pod-subnets src -m set ! --match-set kube-router-pod-subnets dst -m set ! --match-set kube-router-node-ips dst -j MASQUERADE --random-fully',
    ].join(' && '));
    assert.equal(await reach('default/p1', `${ip('p2')}:8080`), false, "upstream's stale route swallows the traffic");
    st.daemons['node-1'] = startDaemon(st, 0);
    await waitHealthy(st, 0, 30_000);
    await until('the stale protocol-17 pod route is gone', async () => !(await ipn(ns, 'route', 'show', 'proto', '17')).stdout.includes(half), 30_000);
    assert.match((await ipn(ns, 'route', 'show', 'proto', '17')).stdout, /198\.19\.77\.0\/24 via 198\.18\.0\.3/, 'a protocol-17 route elsewhere stays');
    const filter = (await nsRun(ns, 'iptables-save', '-t', 'filter')).stdout;
    const nat = (await nsRun(ns, 'iptables-save', '-t', 'nat')).stdout;
    assert.doesNotMatch(filter, /allow (outbound|inbound) traffic|node port traffic/, filter);
    assert.equal(nat.split('\n').filter((l) => l.includes('MASQUERADE') && l.startsWith('-A POSTROUTING ')).length, 0, nat);
    assert.match(nat, /-A KUBE-ROUTER-POD-EGRESS .*-j MASQUERADE/, 'our egress rule, in our chain');
    assert.ok(await reach('default/p1', `${ip('p2')}:8080`), 'p1 reaches p2 again');
    assert.match(readFileSync(join(st.dir, 'node-1.log'), 'utf8'), /took over the node from upstream kube-router's router/);
    await ipn(ns, 'route', 'del', '198.19.77.0/24', 'proto', '17');
  });

  it('a route someone deletes comes back at once', async () => {
    // Put back as soon as the deletion is seen (ip monitor), well before the 2 s period would.
    const times: number[] = [];
    for (let k = 0; k < 3; k++) {
      await ipn(netns.node(LAB, 0), 'route', 'del', podCidr(1));
      times.push(await until('route restored', async () => (await routes(0)).includes(podCidr(1)), 10_000));
    }
    assert.ok(await reach('default/p1', `${ip('p2')}:8080`));
    assert.ok(times.every((t) => t < 1000), `restored after ${times.join(', ')} ms`);
  });

  it('a node whose daemon stops is withdrawn everywhere; when it comes back it is reachable again', async () => {
    const pid = st.daemons['node-3'] as number;
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    await until('node-3 withdrawn on node-1 and node-2', async () => !(await routes(0)).includes(podCidr(2)) && !(await routes(1)).includes(podCidr(2)));
    assert.equal(await reach('default/p1', `${ip('p3')}:8080`), false);
    st.daemons['node-3'] = startDaemon(st, 2);
    await waitHealthy(st, 2, 30_000);
    const t = await until('node-3 back in the mesh', async () => (await routes(0)).includes(podCidr(2)) && (await routes(1)).includes(podCidr(2)) && (await routes(2)).includes(podCidr(0)));
    assert.ok(await reach('default/p1', `${ip('p3')}:8080`));
    assert.ok(t < 15_000, `rejoined in ${t} ms`);
  });

  it('graceful restart: while node-1 daemon restarts, the routes it learned stay in its kernel (deferral until the peers resend)', async () => {
    // Run node-1 with graceful restart, then kill it hard and start it again while sampling its routes.
    const stopHard = async (): Promise<void> => {
      const pid = st.daemons['node-1'] as number;
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    };
    await stopHard();
    st.daemonArgs = ['--injected-routes-sync-period=2s', '--bgp-graceful-restart=true'];
    st.daemons['node-1'] = startDaemon(st, 0);
    await waitHealthy(st, 0, 30_000);
    await until('node-1 mesh routes', async () => (await routes(0)).includes(podCidr(1)) && (await routes(0)).includes(podCidr(2)));
    await stopHard();
    const missing: string[] = [];
    let sampling = true;
    const sampler = (async (): Promise<void> => {
      while (sampling) {
        const r = await routes(0);
        if (!r.includes(podCidr(1))) missing.push(`node-1 lost ${podCidr(1)}`);
        await new Promise((res) => setTimeout(res, 50));
      }
    })();
    st.daemons['node-1'] = startDaemon(st, 0);
    await waitHealthy(st, 0, 30_000);
    await until('sessions back', async () => {
      const m = (await nsRun(netns.node(LAB, 0), 'curl', '-s', 'http://127.0.0.1:20245/metrics')).stdout;
      return (m.match(/state="Established"/g) ?? []).length === 2;
    });
    await new Promise((r) => setTimeout(r, 500));
    sampling = false;
    await sampler;
    assert.deepEqual(missing, [], 'no moment without the route while the daemon restarted');
    assert.ok(await reach('default/p1', `${ip('p2')}:8080`));
  });

  it('a node removed from the cluster is dropped from every peer list and its routes go', async () => {
    await client(st).delete('Node', undefined, 'node-3');
    await until('node-3 routes withdrawn', async () => !(await routes(0)).includes(podCidr(2)) && !(await routes(1)).includes(podCidr(2)));
    await until('node-3 gone from node-1 peer list', async () => {
      const m = (await nsRun(netns.node(LAB, 0), 'curl', '-s', 'http://127.0.0.1:20245/metrics')).stdout;
      return /kube_router_bgp_peer_info\{address="198\.18\.0\.12"/.test(m) && !/kube_router_bgp_peer_info\{address="198\.18\.0\.13"/.test(m);
    });
  });
});
