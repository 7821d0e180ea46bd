import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { JsonObject } from '../../fixture/apiserver/index.js';
import { apply, client, destroyLab, inspectSocket, probe, remove, up } from '../../lab/lab.js';
import { KUBE_ROUTER_BIN } from '../../test/paths.js';
import { netns, podCidr } from '../../lab/plan.js';
import { ipn, nsRun } from '../../lab/sh.js';
import type { LabState } from '../../lab/state.js';
import { removeStaleTestLabs, testLabName } from '../../test/lab-names.js';

const quiet = (): void => undefined;
/** A network outside the cluster that the router announces to the nodes. */
const OUTSIDE = '198.19.250.0/24';
const pod = (name: string, node: string): JsonObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: 'web' } }, spec: { nodeName: node, containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }] } });
const SERVICES: JsonObject[] = [
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'lb' }, spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'quiet', annotations: { 'kube-router.io/service.advertise.clusterip': 'false' } }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'wide' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } },
];

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000, detail: () => string | Promise<string> = () => ''): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) assert.fail(`${what}\n${await detail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('a real top-of-rack router peering with every node (lab --peer)', function () {
  this.timeout(180_000);

  describe('BIRD', () => {
    const LAB = testLabName('lt');
    let st: LabState;
    const tor = async (): Promise<string> => (await ipn(netns.external(LAB), 'route')).stdout;
    const svcIP = async (name: string, field: 'clusterIP' | 'lb'): Promise<string> => {
      const s = await client(st).get('Service', 'default', name);
      if (field === 'clusterIP') return String((s?.['spec'] as Record<string, unknown>)['clusterIP']);
      return String((((s?.['status'] as Record<string, unknown>)['loadBalancer'] as Record<string, unknown>)['ingress'] as Record<string, unknown>[])[0]?.['ip']);
    };
    before(async () => {
      await removeStaleTestLabs('lt');
      await destroyLab(LAB);
      st = await up({ name: LAB, nodes: 2, subnets: 1, peer: 'bird', ipv6: false, daemonArgs: ['--advertise-loadbalancer-ip=true', '--advertise-cluster-ip=true'], tor: { announce: [OUTSIDE], bfd: { intervalMs: 300, multiplier: 3 } } }, quiet);
      await apply(st, [...SERVICES, pod('web-1', 'node-1')], quiet);
    });
    after(async () => {
      await destroyLab(LAB);
    });

    it('pod CIDRs and service VIPs reach BIRD; a Local LoadBalancer IP only from nodes with a local endpoint, following the pod', async () => {
      const lb = await svcIP('lb', 'lb');
      const wide = await svcIP('wide', 'clusterIP');
      const quietIP = await svcIP('quiet', 'clusterIP');
      await until('BIRD has both pod CIDRs, the LB IP via node-1 only, the ClusterIP over both nodes (ECMP)', async () => {
        const r = await tor();
        return r.includes(`${podCidr(0)} via 198.18.0.11`) && r.includes(`${podCidr(1)} via 198.18.0.12`) && r.includes(`${lb} via 198.18.0.11`) && new RegExp(`${wide.replace(/\./g, '\\.')} proto bird[^\\n]*\\n\\s+nexthop via 198\\.18\\.0\\.1[12][^\\n]*\\n\\s+nexthop via 198\\.18\\.0\\.1[12]`).test(r);
      }, 30_000, tor);
      assert.ok(!(await tor()).includes(quietIP), 'a service annotated advertise.clusterip=false is not advertised');
      // One probe: a node advertises the address only once its proxy has committed the endpoint, so
      // the route at BIRD means the rules are in place (it once could win that race and be refused).
      const answered = (): ReturnType<typeof probe> => probe(st, 'external', `${lb}:80`, 'tcp', 2000);
      const r = await answered();
      assert.ok(r.ok, r.output);
      // The endpoint moves to node-2: node-1 withdraws the Local VIP, node-2 advertises it.
      await apply(st, [pod('web-2', 'node-2')], quiet);
      await remove(st, [pod('web-1', 'node-1')]);
      await until('LB IP now via node-2 only', async () => {
        const t = await tor();
        return t.includes(`${lb} via 198.18.0.12`) && !t.includes(`${lb} via 198.18.0.11`);
      }, 20_000, tor);
      const r2 = await answered();
      assert.equal(r2.answer, 'default/web-2', r2.output);
      const m = (await nsRun(netns.node(LAB, 0), 'curl', '-s', 'http://127.0.0.1:20245/metrics')).stdout;
      assert.match(m, /^kube_router_controller_bgp_advertisements_sent\{type="advertise-vip"\} [1-9]/m);
      assert.match(m, /^kube_router_controller_bgp_advertisements_sent\{type="withdraw-vip"\} [1-9]/m, 'node-1 withdrew the Local VIP');
      assert.match(m, /^kube_router_controller_bgp_advertisements_received [1-9]/m);
    });
    it('BFD with the router (--enable-bfd, 300 ms × 3, BIRD\'s bfd protocol): the router silent toward node-1 → its routes out of node-1\'s FIB within 1 s; node-2 untouched; back when it heals', async () => {
      const fib = async (i: number): Promise<string> => (await ipn(netns.node(LAB, i), 'route', 'show', OUTSIDE)).stdout;
      await until('the outside network in both nodes\' FIBs via the router', async () => (await fib(0)).includes(`via ${st.plan.externalIP}`) && (await fib(1)).includes(`via ${st.plan.externalIP}`), 30_000, () => fib(0));
      const peers = (): { address: string; state: string; bfd?: { state: string; detectionTimeMs: number; hop: string } }[] => JSON.parse(execFileSync('node', [KUBE_ROUTER_BIN, 'bgp', 'peers', '--json', '--socket', inspectSocket(st, 'node-1')], { encoding: 'utf8' })) as never;
      await until('BFD up at 300 ms with the router', () => peers().find((p) => p.address === st.plan.externalIP)?.bfd?.detectionTimeMs === 900, 20_000, () => JSON.stringify(peers()));
      assert.equal(peers().find((p) => p.address === st.plan.externalIP)?.bfd?.state, 'Up');
      assert.equal(peers().find((p) => p.address === '198.18.0.12')?.bfd, undefined, 'no BFD inside the cluster mesh');
      const table = execFileSync('node', [KUBE_ROUTER_BIN, 'bgp', 'peers', '--socket', inspectSocket(st, 'node-1')], { encoding: 'utf8' });
      assert.match(table, /\bbfd\b/);
      assert.match(table, /Up\/900ms/);
      const metrics = (await nsRun(netns.node(LAB, 0), 'curl', '-s', 'http://127.0.0.1:20245/metrics')).stdout;
      assert.match(metrics, new RegExp(`^kube_router_bfd_session_info\\{address="${st.plan.externalIP}",state="Up",hop="single"\\} 1`, 'm'));
      // The router drops everything to and from node-1 (links stay up: only BFD can tell; the BGP hold time is 90 s).
      const ext = netns.external(LAB);
      const t0 = Date.now();
      await nsRun(ext, 'nft', 'add table inet krt_cut { chain f { type filter hook prerouting priority -300; ip saddr 198.18.0.11 drop; } ; chain o { type filter hook output priority -300; ip daddr 198.18.0.11 drop; } ; }');
      let gone = 0;
      for (;;) {
        if (!(await fib(0)).includes('via')) {
          gone = Date.now() - t0;
          break;
        }
        if (Date.now() - t0 > 5000) assert.fail(`still in node-1's FIB 5 s after the cut: ${await fib(0)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      console.log(`      router silent → the outside network out of node-1's FIB after ${gone} ms`);
      assert.ok(gone <= 1000, `withdrawn after ${gone} ms`);
      assert.ok((await fib(1)).includes(`via ${st.plan.externalIP}`), 'node-2 keeps its route');
      const after = peers().find((p) => p.address === st.plan.externalIP);
      assert.equal(after?.bfd?.state, 'Down');
      assert.notEqual(after?.state, 'Established');
      // BIRD's BFD saw node-1 go silent as well: node-1's pod CIDR leaves the router's FIB.
      await until('node-1\'s pod CIDR out of the router\'s FIB', async () => !(await tor()).includes(`${podCidr(0)} via 198.18.0.11`), 5000, tor);
      await nsRun(ext, 'nft', 'delete table inet krt_cut');
      await until('back in node-1\'s FIB', async () => (await fib(0)).includes(`via ${st.plan.externalIP}`), 30_000, () => fib(0));
      const m2 = (await nsRun(netns.node(LAB, 0), 'curl', '-s', 'http://127.0.0.1:20245/metrics')).stdout;
      assert.match(m2, new RegExp(`^kube_router_bfd_session_down_transitions\\{address="${st.plan.externalIP}"\\} 1`, 'm'));
    });
  });

  describe('GoBGP', () => {
    const LAB = testLabName('lg');
    let st: LabState;
    before(async () => {
      await removeStaleTestLabs('lg');
      await destroyLab(LAB);
      st = await up({ name: LAB, nodes: 2, subnets: 1, peer: 'gobgp', ipv6: false, daemonArgs: [] }, quiet);
    });
    after(async () => {
      await destroyLab(LAB);
    });

    it('sessions with every node; GoBGP holds both pod CIDRs with the nodes as next hops', async () => {
      const rib = (): string => execFileSync('gobgp', ['--target', `unix://${join(st.dir, 'tor-gobgp.sock')}`, 'global', 'rib'], { encoding: 'utf8' });
      await until('GoBGP RIB', () => {
        const r = rib();
        return new RegExp(`${podCidr(0).replace(/\./g, '\\.')}\\s+198\\.18\\.0\\.11\\s+64512`).test(r) && new RegExp(`${podCidr(1).replace(/\./g, '\\.')}\\s+198\\.18\\.0\\.12\\s+64512`).test(r);
      }, 30_000, () => rib());
    });
  });
});
