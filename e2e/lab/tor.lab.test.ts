import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { JsonObject } from '../../fixture/apiserver/index.js';
import { apply, client, destroyLab, probe, remove, up } from '../../lab/lab.js';
import { netns, podCidr } from '../../lab/plan.js';
import { ipn, nsRun } from '../../lab/sh.js';
import type { LabState } from '../../lab/state.js';
import { removeStaleTestLabs, testLabName } from '../../test/lab-names.js';

const quiet = (): void => undefined;
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
      st = await up({ name: LAB, nodes: 2, subnets: 1, peer: 'bird', ipv6: false, daemonArgs: ['--advertise-loadbalancer-ip=true', '--advertise-cluster-ip=true'] }, quiet);
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
      const r = await probe(st, 'external', `${lb}:80`, 'tcp', 2000);
      assert.ok(r.ok, r.output);
      // The endpoint moves to node-2: node-1 withdraws the Local VIP, node-2 advertises it.
      await apply(st, [pod('web-2', 'node-2')], quiet);
      await remove(st, [pod('web-1', 'node-1')]);
      await until('LB IP now via node-2 only', async () => {
        const t = await tor();
        return t.includes(`${lb} via 198.18.0.12`) && !t.includes(`${lb} via 198.18.0.11`);
      }, 20_000, tor);
      const r2 = await probe(st, 'external', `${lb}:80`, 'tcp', 2000);
      assert.equal(r2.answer, 'default/web-2', r2.output);
      const m = (await nsRun(netns.node(LAB, 0), 'curl', '-s', 'http://127.0.0.1:20245/metrics')).stdout;
      assert.match(m, /^kube_router_controller_bgp_advertisements_sent\{type="advertise-vip"\} [1-9]/m);
      assert.match(m, /^kube_router_controller_bgp_advertisements_sent\{type="withdraw-vip"\} [1-9]/m, 'node-1 withdrew the Local VIP');
      assert.match(m, /^kube_router_controller_bgp_advertisements_received [1-9]/m);
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
