import assert from 'node:assert/strict';
import type { JsonObject } from '../../fixture/apiserver/index.js';
import { apply, client, destroyLab, nodeHealth, probe, up } from '../../lab/lab.js';
import { netns, podCidr } from '../../lab/plan.js';
import { ipn, nsRun } from '../../lab/sh.js';
import type { LabState } from '../../lab/state.js';
import { removeStaleTestLabs, testLabName } from '../../test/lab-names.js';
import { withoutNexthopIds } from '../../test/route-text.js';

const quiet = (): void => undefined;
const LAB = testLabName('lh');
const pod = (ns: string, name: string, node: string, labels: Record<string, string>): JsonObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: ns, name, labels }, spec: { nodeName: node, containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }] } });
const ns = (name: string): JsonObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { ns: name } } });

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 30_000, detail: () => string | Promise<string> = () => ''): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) assert.fail(`${what}\n${await detail()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Hostile objects in a real lab (2 nodes, BIRD as top-of-rack): each is refused or contained as one
 * object, every node stays healthy, and everything else keeps working with real packets.
 */
describe('hostile objects in the lab: the blast radius of one object is that object', function () {
  this.timeout(240_000);
  let st: LabState;
  const tor = async (): Promise<string> => (await ipn(netns.external(LAB), 'route')).stdout;
  const healthy = async (): Promise<boolean> => (await nodeHealth(st, 0)) === 200 && (await nodeHealth(st, 1)) === 200;

  before(async () => {
    await removeStaleTestLabs('lh');
    await destroyLab(LAB);
    st = await up({ name: LAB, nodes: 2, subnets: 1, peer: 'bird', ipv6: false, daemonArgs: ['--advertise-external-ip=false', '--iptables-sync-period=5s', '--routes-sync-period=5s'] }, quiet);
    await apply(st, [ns('big'), ns('other'), pod('other', 'server', 'node-1', { app: 'server' }), pod('other', 'friend', 'node-2', { app: 'friend' }), pod('other', 'stranger', 'node-2', { app: 'stranger' })], quiet);
  });
  after(async () => {
    await destroyLab(LAB);
  });

  it('an oversized NetworkPolicy is refused with a Warning Event; a policy in another namespace is still enforced; every node stays healthy', async () => {
    const c = client(st);
    // 13 pod peers × 10,000 ports: within the budget now (one list:set, one line per port).
    await c.create({ kind: 'NetworkPolicy', metadata: { namespace: 'big', name: 'wide' }, spec: { podSelector: {}, ingress: [{ from: Array.from({ length: 13 }, (_, i) => ({ podSelector: { matchLabels: { app: `a${i}` } } })), ports: Array.from({ length: 10_000 }, (_, i) => ({ port: 1000 + i })) }] } });
    // 200 peers × 200 named egress ports: over the budget, refused.
    await c.create({ kind: 'NetworkPolicy', metadata: { namespace: 'big', name: 'huge' }, spec: { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: Array.from({ length: 200 }, (_, i) => ({ podSelector: { matchLabels: { app: `a${i}` } } })), ports: Array.from({ length: 200 }, (_, i) => ({ port: `p${i}` })) }] } });
    await c.create({ kind: 'NetworkPolicy', metadata: { namespace: 'other', name: 'only-friend' }, spec: { podSelector: { matchLabels: { app: 'server' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'friend' } } }] }] } });
    const server = st.pods.find((p) => p.name === 'server')?.ips[0] ?? '';
    await until('the other namespace policy is enforced with real packets', async () => (await probe(st, 'other/friend', `${server}:8080`, 'tcp', 1500)).ok && !(await probe(st, 'other/stranger', `${server}:8080`, 'tcp', 1500)).ok, 60_000);
    await until('a Warning Event on the over-budget policy', async () => (await c.list('Event', 'big')).some((e) => (e['involvedObject'] as JsonObject)['name'] === 'huge' && e['reason'] === 'KubeRouterOverBudget'));
    assert.ok(await healthy(), 'every node healthy');
    const rules = (await nsRun(netns.node(LAB, 0), 'iptables-save', '-t', 'filter')).stdout.split('\n').filter((l) => l.startsWith('-A KUBE-NWPLCY')).length;
    assert.ok(rules > 10_000 && rules < 10_200, `the 10,000-port policy is one line per port (${rules} lines)`);
  });

  it('1,100 communities on a Node: capped, the node stays healthy and BIRD still learns its routes', async () => {
    await client(st).patch('Node', undefined, 'node-1', { metadata: { annotations: { 'kube-router.io/node.bgp.communities': Array.from({ length: 1100 }, (_, i) => `64512:${i}`).join(',') } } });
    await new Promise((r) => setTimeout(r, 3000));
    await until('BIRD has both pod CIDRs', async () => {
      const r = await tor();
      return r.includes(`${podCidr(0)} via 198.18.0.11`) && r.includes(`${podCidr(1)} via 198.18.0.12`);
    }, 30_000, tor);
    assert.ok(await healthy(), 'every node healthy');
  });

  it('an externalIP outside --service-external-ip-range is never announced, even when the Service asks for it', async () => {
    const c = client(st);
    const ann = { 'kube-router.io/service.advertise.externalip': 'true' };
    await c.create({ kind: 'Service', metadata: { namespace: 'other', name: 'inside', annotations: ann }, spec: { selector: { app: 'friend' }, externalIPs: ['198.19.0.77'], ports: [{ port: 80, targetPort: 8080 }] } });
    await c.create({ kind: 'Service', metadata: { namespace: 'other', name: 'outside', annotations: ann }, spec: { selector: { app: 'friend' }, externalIPs: ['198.18.250.9'], ports: [{ port: 80, targetPort: 8080 }] } });
    await until('the in-range externalIP reaches BIRD', async () => (await tor()).includes('198.19.0.77'), 30_000, tor);
    await new Promise((r) => setTimeout(r, 2000));
    assert.ok(!(await tor()).includes('198.18.250.9'), 'the out-of-range externalIP is not announced');
    const r = await probe(st, 'external', '198.19.0.77:80', 'tcp', 2000);
    assert.ok(r.ok, r.output);
  });

  it('a /0 pod CIDR on one Node is refused: the other node keeps routing, no temp set is left, every node healthy', async () => {
    await client(st).patch('Node', undefined, 'node-2', { metadata: { annotations: { 'kube-router.io/pod-cidr': '0.0.0.0/0' } } });
    await new Promise((r) => setTimeout(r, 6000));
    assert.ok(await healthy(), 'every node healthy');
    const routes = withoutNexthopIds((await ipn(netns.node(LAB, 0), 'route', 'show', 'proto', '44')).stdout);
    assert.ok(routes.includes(`${podCidr(1)} via 198.18.0.12`), routes);
    assert.ok(!routes.includes('default'), routes);
    const sets = (await nsRun(netns.node(LAB, 0), 'ipset', 'list', '-n')).stdout;
    assert.doesNotMatch(sets, /KRT-TMP-/);
  });

  it('objects that only look like ours (a kr- link, a table-77 rule of another priority, a KRT- ipset) survive our syncs', async () => {
    const n1 = netns.node(LAB, 0);
    await ipn(n1, 'link', 'add', 'kr-foreign', 'type', 'bridge');
    await ipn(n1, 'rule', 'add', 'from', '198.18.200.0/24', 'lookup', '77', 'priority', '100');
    await nsRun(n1, 'ipset', 'create', 'KRT-OTHER-TOOL', 'hash:ip');
    await new Promise((r) => setTimeout(r, 11_000)); // two routing and firewall periods (5 s each)
    assert.match((await ipn(n1, 'link', 'show', 'kr-foreign')).stdout, /kr-foreign/);
    assert.match((await ipn(n1, 'rule', 'show')).stdout, /100:\s+from 198\.18\.200\.0\/24 lookup 77/);
    assert.match((await nsRun(n1, 'ipset', 'list', '-n')).stdout, /KRT-OTHER-TOOL/);
    assert.ok(await healthy());
  });
});
