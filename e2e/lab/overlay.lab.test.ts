import assert from 'node:assert/strict';
import type { JsonObject } from '../../fixture/apiserver/index.js';
import { apply, client, destroyLab, netnsOf, probe, up } from '../../lab/lab.js';
import { netns, podCidr } from '../../lab/plan.js';
import { ipn, nsRun } from '../../lab/sh.js';
import type { LabState } from '../../lab/state.js';
import { removeStaleTestLabs, testLabName } from '../../test/lab-names.js';
import { withoutNexthopIds } from '../../test/route-text.js';

const LAB = testLabName('lo');
const quiet = (): void => undefined;
const pod = (name: string, node: string): JsonObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: name } }, spec: { nodeName: node, containers: [{ name: 'c', ports: [{ containerPort: 8080 }] }] } });

/**
 * --overlay-type=subnet with VXLAN: 3 nodes over 2 segments; the router between the segments knows no
 * pod routes, so pods across segments talk only through our tunnels; same-segment peers stay direct.
 */
describe('overlay in the lab: VXLAN across subnets, direct routes within one', function () {
  this.timeout(180_000);
  let st: LabState;
  const routes = async (i: number): Promise<string> => withoutNexthopIds((await ipn(netns.node(LAB, i), 'route', 'show', 'proto', '44')).stdout);
  const tunnels = async (i: number): Promise<string> => (await ipn(netns.node(LAB, i), '-br', 'link', 'show', 'type', 'vxlan')).stdout;
  const until = async (what: string, cond: () => Promise<boolean>, ms = 20_000): Promise<void> => {
    const t0 = Date.now();
    while (!(await cond())) {
      if (Date.now() - t0 > ms) assert.fail(`${what}\nnode-1: ${await routes(0)}${await tunnels(0)}node-2: ${await routes(1)}${await tunnels(1)}node-3: ${await routes(2)}${await tunnels(2)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const ip = (name: string): string => st.pods.find((p) => p.name === name)?.ips[0] ?? '';

  before(async () => {
    await removeStaleTestLabs('lo');
    await destroyLab(LAB);
    st = await up({ name: LAB, nodes: 3, subnets: 2, peer: 'none', ipv6: false, daemonArgs: ['--enable-overlay=true', '--overlay-type=subnet', '--overlay-encap=vxlan'] }, quiet);
    await apply(st, [pod('p1', 'node-1'), pod('p2', 'node-2'), pod('p3', 'node-3')], quiet);
  });
  after(async () => {
    await destroyLab(LAB);
  });

  it('same-subnet peers get direct routes, the other subnet goes through one VXLAN tunnel per remote node; pods reach pods both ways', async () => {
    await until('routes', async () => {
      // Every node's routes, both ways: a reply needs the route back (node-2's to node-3 was not
      // awaited once, and p3 → p2 raced it).
      const [r1, r2, r3] = [await routes(0), await routes(1), await routes(2)];
      return (
        r1.includes(`${podCidr(1)} via 198.18.0.12 dev eth0`) &&
        /198\.18\.66\.0\/24 via 198\.18\.1\.13 dev kr-\S+ onlink/.test(r1) &&
        r2.includes(`${podCidr(0)} via 198.18.0.11 dev eth0`) &&
        /198\.18\.66\.0\/24 via 198\.18\.1\.13 dev kr-\S+ onlink/.test(r2) &&
        /198\.18\.64\.0\/24 via 198\.18\.0\.11 dev kr-\S+ onlink/.test(r3) &&
        /198\.18\.65\.0\/24 via 198\.18\.0\.12 dev kr-\S+ onlink/.test(r3)
      );
    });
    assert.equal((await tunnels(0)).trim().split('\n').length, 1, 'node-1 tunnels only to node-3');
    assert.equal((await tunnels(2)).trim().split('\n').length, 2, 'node-3 tunnels to both nodes of the other segment');
    for (const [from, to] of [['p1', 'p3'], ['p3', 'p1'], ['p3', 'p2'], ['p1', 'p2']] as const) {
      const r = await probe(st, `default/${from}`, `${ip(to)}:8080`, 'tcp', 2000);
      assert.equal(r.answer, `default/${to}`, `${from} → ${to}: ${r.output}`);
      assert.equal(r.client, ip(from), 'no NAT between pods');
    }
  });

  it('policy routing as upstream: pod traffic to a remote node address goes through its tunnel (table 77), host traffic does not', async () => {
    await until('table 77 and the rule', async () => /198\.18\.1\.13 dev kr-/.test((await ipn(netns.node(LAB, 0), 'route', 'show', 'table', '77')).stdout) && (await ipn(netns.node(LAB, 0), 'rule', 'show')).stdout.includes(`from ${podCidr(0)} lookup 77`));
    const fromPod = (await ipn(netns.node(LAB, 0), 'route', 'get', '198.18.1.13', 'from', ip('p1'), 'iif', 'kube-bridge')).stdout;
    assert.match(fromPod, /dev kr-/, fromPod);
    const fromHost = (await ipn(netns.node(LAB, 0), 'route', 'get', '198.18.1.13')).stdout;
    assert.doesNotMatch(fromHost, /dev kr-/, fromHost);
    // A real packet: the pod reaches node-3's own address (its metrics port) through the tunnel.
    const r = await nsRun(netnsOf(st, 'default/p1'), 'curl', '-s', '-m', '3', '-o', '/dev/null', '-w', '%{http_code}', 'http://198.18.1.13:20245/metrics').catch((e: unknown) => ({ stdout: String(e) }));
    assert.equal(r.stdout, '200');
  });

  it('a node that leaves takes its routes and its tunnels with it', async () => {
    await client(st).delete('Node', undefined, 'node-3');
    await until('node-1 has no tunnel and no route to node-3', async () => (await tunnels(0)).trim() === '' && !(await routes(0)).includes(podCidr(2)));
    await until('node-2 too', async () => !(await routes(1)).includes(podCidr(2)));
    await until('and table 77 on node-1 lost its route to node-3', async () => !(await ipn(netns.node(LAB, 0), 'route', 'show', 'table', '77')).stdout.includes('198.18.1.13'));
  });
});
