import assert from 'node:assert/strict';
import type { JsonObject } from '../../fixture/apiserver/index.js';
import { apply, client, destroyLab, nodeHealth, probe, up } from '../../lab/lab.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gobgpConfig, startGobgp } from '../../pkg/bgp/speaker/interop.test-support.js';
import { netns, nodeDataIP, nodeIP, podCidr } from '../../lab/plan.js';
import { ipn, nsRun, run } from '../../lab/sh.js';
import type { LabState } from '../../lab/state.js';
import { removeStaleTestLabs, testLabName } from '../../test/lab-names.js';
import { withoutNexthopIds } from '../../test/route-text.js';

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
  const routes = async (i: number): Promise<string> => withoutNexthopIds((await ipn(netns.node(LAB, i), 'route', 'show', 'proto', '44')).stdout);
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

  it('local addresses: a peer reached over the second network gets our session from its localip; bgp-local-addresses opens a listener there; a localip not on the node is reported and the node stays up', async () => {
    const peerNs = `${netns.fabric(LAB)}-bgp`;
    const peerIP = `${st.plan.dataPrefix ?? ''}.200`;
    const d1 = nodeDataIP(st.plan, 0) ?? '';
    await run('ip', 'netns', 'add', peerNs);
    await ipn(peerNs, 'link', 'set', 'lo', 'up');
    await ipn(peerNs, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'v-bgp', 'netns', netns.fabric(LAB));
    await ipn(netns.fabric(LAB), 'link', 'set', 'v-bgp', 'master', 'brdata', 'up');
    await ipn(peerNs, 'addr', 'add', `${peerIP}/24`, 'dev', 'eth0');
    await ipn(peerNs, 'link', 'set', 'eth0', 'up');
    // GoBGP knows node-1 only by its data-network address and only waits (passive): the session exists
    // only if node-1 connects from its localip.
    const dir = mkdtempSync(join(tmpdir(), 'krt-li-'));
    const g = startGobgp(peerNs, dir, gobgpConfig({ routerId: peerIP, asn: 65010, neighbor: d1, neighborAs: 64512, passive: true }));
    const gob = (...a: string[]): string => {
      const argv = g.cli(...a);
      return execFileSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' });
    };
    try {
      await client(st).patch('Node', undefined, 'node-1', { metadata: { annotations: { 'kube-router.io/peers': `- remoteip: ${peerIP}\n  remoteasn: 65010\n  localip: ${d1}\n`, 'kube-router.io/bgp-local-addresses': `${nodeIP(st.plan, 0)},${d1}` } } });
      const t0 = Date.now();
      for (;;) {
        const state = (() => {
          try {
            return gob('neighbor', d1);
          } catch {
            return '';
          }
        })();
        if (/BGP state = established/i.test(state)) break;
        if (Date.now() - t0 > 45_000) assert.fail(`GoBGP never established with ${d1}:\n${state}\n${readFileSync(join(st.dir, 'node-1.log'), 'utf8').slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      const established = (await nsRun(netns.node(LAB, 0), 'ss', '-Htn', 'state', 'established', 'dst', peerIP)).stdout;
      assert.match(established, new RegExp(`${d1.replace(/\./g, '\\.')}:\\d+\\s+${peerIP.replace(/\./g, '\\.')}:179`), `our connection, from the localip:\n${established}`);
      const listening = (await nsRun(netns.node(LAB, 0), 'ss', '-Hltn', 'sport = :179')).stdout;
      assert.ok(listening.includes(`${d1}:179`) && listening.includes(`${nodeIP(st.plan, 0)}:179`), `listeners on both addresses:\n${listening}`);
      // node-2 names a local address it does not have: reported; the node and its sessions carry on.
      await client(st).patch('Node', undefined, 'node-2', { metadata: { annotations: { 'kube-router.io/peers': `- remoteip: ${peerIP}\n  remoteasn: 65010\n  localip: 198.18.250.250\n` } } });
      const t1 = Date.now();
      while (!readFileSync(join(st.dir, 'node-2.log'), 'utf8').includes('198.18.250.250 is not an address of this node')) {
        if (Date.now() - t1 > 30_000) assert.fail('node-2 did not report the bad localip');
        await new Promise((r) => setTimeout(r, 300));
      }
      assert.equal(await nodeHealth(st, 1), 200);
    } finally {
      await g.proc.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
