import assert from 'node:assert/strict';
import { throwawayNetns, type ThrowawayNetns } from '../../../test/throwaway-netns.js';
import { cleanupNftables } from '../../linux/cleanup.js';
import { RealIpset } from '../../linux/ipset/real.js';
import { RealIptables } from '../../linux/iptables/real.js';
import { RealNftables } from '../../linux/nftables/real.js';
import { NftSession } from '../../linux/nftables/session.js';
import { parsePod } from '../../k8s/kinds/pod.js';
import type { FirewallTracker } from '../model/tracker.js';
import { kernelTestTracker, pod } from '../kernel-world.test-support.js';
import { IptablesFirewallBackend, removeIptablesFirewall } from '../iptables/backend.js';
import { desiredTable, NftFirewallBackend, removeNftFirewall } from './backend.js';
import { NETPOL_TABLE } from './render.js';


/**
 * The nftables firewall backend against the real nft in a throwaway namespace: what the kernel gives
 * back equals what we rendered (so a resync writes nothing), pod changes are element writes, tampering
 * is repaired, foreign tables are untouched, switching backends leaves only the new one's objects.
 */
describe('firewall nftables backend on the real kernel in a netns', function () {
  this.timeout(60_000);
  let ns: ThrowawayNetns;
  before(async () => {
    ns = await throwawayNetns();
  });
  after(async () => {
    await ns.remove();
  });

  it('writes exactly the model, resyncs with zero writes, moves only elements for a pod, repairs a flushed table, leaves foreign tables alone, and hands over to and from iptables', async () => {
    const oneShot = new RealNftables(ns.exec);
    const nft = new NftSession(oneShot, ['ip', 'netns', 'exec', ns.name]);
    await oneShot.apply('add table ip foreign\nadd chain ip foreign c { type filter hook input priority 0; policy accept; }\nadd rule ip foreign c tcp dport 22 accept\n');
    const foreign = async (): Promise<string> => (await ns.exec.run(['nft', 'list', 'table', 'ip', 'foreign'])).stdout;
    const foreignBefore = await foreign();

    const t = kernelTestTracker();
    const backends = ([4, 6] as const).map((f) => new NftFirewallBackend(f, nft));
    const sync = async (full: boolean): Promise<{ writes: number; modes: string[] }> => {
      const { changed } = t.chains();
      const touched = t.sets.takeTouched();
      let writes = 0;
      const modes: string[] = [];
      for (const b of backends) {
        const r = await b.sync(t.desired(b.family) as NonNullable<ReturnType<FirewallTracker['desired']>>, touched, changed, full);
        writes += r.writes;
        modes.push(r.mode);
      }
      return { writes, modes };
    };
    const assertKernelIsModel = async (): Promise<void> => {
      for (const f of [4, 6] as const) {
        const want = desiredTable(t.desired(f) as NonNullable<ReturnType<FirewallTracker['desired']>>);
        const have = await oneShot.dump(f === 4 ? 'ip' : 'ip6', NETPOL_TABLE);
        assert.ok(have, `IPv${f} table exists`);
        for (const [c, rules] of want.chains) assert.equal(have.chains.get(c)?.ruleCount, rules.length, `IPv${f} chain ${c}`);
        for (const [name, s] of want.sets) assert.deepEqual(have.sets.get(name)?.elements, [...s.elements].sort(), `IPv${f} set ${name}: the kernel prints back exactly our elements`);
        for (const b of ['input', 'forward', 'output']) assert.equal(have.chains.get(b)?.base?.hook, b);
      }
    };

    const first = await sync(true);
    assert.ok(first.writes > 0);
    await assertKernelIsModel();
    assert.equal((await sync(true)).writes, 0, 'a full resync of an unchanged model writes nothing');
    // The namespace dispatch is one verdict-map lookup, whose elements are this node's pods.
    const listed = (await ns.exec.run(['nft', 'list', 'table', 'ip', NETPOL_TABLE])).stdout;
    assert.match(listed, /ip daddr vmap @KUBE-NWPLCY-INGRESS-dispatch/);
    assert.match(listed, /map KUBE-NWPLCY-INGRESS-dispatch \{[^}]*198\.18\.64\.11 : jump KUBE-NWPLCY-NI-/);
    assert.doesNotMatch(listed, /198\.18\.65\.11 : jump/, 'only this node pods');

    // A pod change: only elements move, in one transaction per family.
    t.setPod('x/b', parsePod(pod('x', 'b', ['198.18.64.13', '2001:db8:64::13'], { pod: 'b' })));
    const w = await sync(false);
    assert.ok(w.writes > 0 && w.writes <= 40, `a pod IP change (in 8 sets per family) wrote ${w.writes} lines`);
    await assertKernelIsModel();
    assert.equal((await sync(true)).writes, 0);

    // Tampering: an element deleted (repaired element-wise), then a chain flushed (the table is rebuilt).
    await ns.exec.run(['nft', 'delete', 'element', 'ip', NETPOL_TABLE, 'KRT-NP-LOCAL-PODS', '{ 198.18.64.11 }']);
    const el = await sync(true);
    assert.equal(el.writes, 1, 'one element line puts the lost pod back');
    await ns.exec.run(['nft', 'flush', 'chain', 'ip', NETPOL_TABLE, 'KUBE-NWPLCY-INGRESS']);
    assert.ok((await sync(true)).writes > 10, 'a flushed chain rebuilds the table');
    await assertKernelIsModel();
    await ns.exec.run(['nft', 'flush', 'table', 'ip6', NETPOL_TABLE]);
    assert.ok((await sync(true)).writes > 10, 'a flushed table (the canary gone) is rebuilt');
    await assertKernelIsModel();
    assert.equal((await sync(true)).writes, 0);

    // A policy removed: its chains and sets go in one transaction.
    t.setPolicy('x/p1', undefined);
    assert.ok((await sync(false)).writes > 0);
    await assertKernelIsModel();
    assert.equal((await sync(true)).writes, 0);
    assert.equal(await foreign(), foreignBefore, 'the foreign table is untouched');

    // Switching to iptables: the iptables backend programs, then our nft tables go.
    const ipset = new RealIpset(ns.exec);
    const ipt = { 4: new RealIptables(ns.exec, 4, 'nft'), 6: new RealIptables(ns.exec, 6, 'nft') } as const;
    const { changed } = t.chains();
    for (const f of [4, 6] as const) await new IptablesFirewallBackend(f, ipt[f], ipset).sync(t.desired(f) as NonNullable<ReturnType<FirewallTracker['desired']>>, new Map(), changed, true);
    for (const f of [4, 6] as const) assert.equal(await removeNftFirewall(f, nft), 1);
    const tables = (await ns.exec.run(['nft', 'list', 'tables'])).stdout;
    assert.doesNotMatch(tables, new RegExp(NETPOL_TABLE));
    assert.match(tables, /table ip foreign/);
    // And back: nftables programs, the iptables chains, jumps and sets go.
    for (const b of backends) b.invalidate();
    assert.ok((await sync(true)).writes > 0);
    for (const f of [4, 6] as const) assert.ok((await removeIptablesFirewall(f, ipt[f], ipset)) > 0);
    assert.doesNotMatch((await ipt[4].save('filter')) + (await ipt[6].save('filter')), /KUBE-|kube-router netpol/);
    assert.deepEqual((await ipset.save()).map((s) => s.name), []);
    await assertKernelIsModel();

    // --cleanup-config removes our tables and no other.
    assert.equal(await cleanupNftables(oneShot), 2);
    assert.equal(await foreign(), foreignBefore);
    nft.close();
  });
});
