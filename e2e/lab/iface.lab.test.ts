import assert from 'node:assert/strict';
import type { JsonObject } from '../../fixture/apiserver/index.js';
import { apply, destroyLab, probe, up } from '../../lab/lab.js';
import { netns, nodeDataIP, podCidr } from '../../lab/plan.js';
import { ipn, nsRun } from '../../lab/sh.js';
import type { LabState } from '../../lab/state.js';
import { removeStaleTestLabs, testLabName } from '../../test/lab-names.js';

const LAB = testLabName('li');
const quiet = (): void => undefined;
const pod = (name: string, node: string): JsonObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: name } }, spec: { nodeName: node, containers: [{ name: 'c', ports: [{ containerPort: 8080 }] }] } });

/**
 * Nodes with two interfaces: eth0 holds the Node object's address (BGP sessions stay there), eth1 is a
 * data network chosen with --iface=eth1: learned pod routes point at the peers' eth1 addresses, and
 * pod traffic crosses eth1.
 */
describe('--iface in the lab: pod routes over a second interface', function () {
  this.timeout(180_000);
  let st: LabState;
  const routes = async (i: number): Promise<string> => (await ipn(netns.node(LAB, i), 'route', 'show', 'proto', '44')).stdout;
  const rxPackets = async (i: number, dev: string): Promise<number> => {
    const j = JSON.parse((await ipn(netns.node(LAB, i), '-s', '-j', 'link', 'show', dev)).stdout) as { stats64: { rx: { packets: number } } }[];
    return j[0]?.stats64.rx.packets ?? 0;
  };

  before(async () => {
    await removeStaleTestLabs('li');
    await destroyLab(LAB);
    st = await up({ name: LAB, nodes: 2, subnets: 1, peer: 'none', ipv6: false, daemonArgs: ['--iface=eth1'], dataNetwork: true }, quiet);
    await apply(st, [pod('a', 'node-1'), pod('b', 'node-2')], quiet);
  });
  after(async () => {
    await destroyLab(LAB);
  });

  it('the advertised next hop is the eth1 address; sessions stay on the Node addresses; pods talk over eth1', async () => {
    const d1 = nodeDataIP(st.plan, 0) ?? '';
    const d2 = nodeDataIP(st.plan, 1) ?? '';
    const t0 = Date.now();
    while (!(await routes(0)).includes(`${podCidr(1)} via ${d2} dev eth1`)) {
      if (Date.now() - t0 > 30_000) assert.fail(`node-1 routes:\n${await routes(0)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok((await routes(1)).includes(`${podCidr(0)} via ${d1} dev eth1`), await routes(1));
    const sessions = (await nsRun(netns.node(LAB, 0), 'ss', '-Htn', 'state', 'established', '( sport = :179 or dport = :179 )')).stdout;
    assert.match(sessions, /198\.18\.0\.11:\S+\s+198\.18\.0\.12:/, `the BGP session is between the Node addresses:\n${sessions}`);
    assert.ok(!sessions.includes(d1) && !sessions.includes(d2), sessions);
    const before = await rxPackets(1, 'eth1');
    const ipOf = (name: string): string => st.pods.find((p) => p.name === name)?.ips[0] ?? '';
    for (let i = 0; i < 3; i++) {
      const r = await probe(st, 'default/a', `${ipOf('b')}:8080`, 'tcp', 2000);
      assert.equal(r.answer, 'default/b', r.output);
      assert.equal(r.client, ipOf('a'));
    }
    assert.ok((await rxPackets(1, 'eth1')) - before >= 6, 'the pod traffic arrived on eth1');
  });
});
