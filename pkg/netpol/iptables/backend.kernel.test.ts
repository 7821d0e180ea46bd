import assert from 'node:assert/strict';
import { throwawayNetns, type ThrowawayNetns } from '../../../test/throwaway-netns.js';
import { cleanupIpsets, cleanupIptables } from '../../linux/cleanup.js';
import { RealIpset } from '../../linux/ipset/real.js';
import { RealIptables } from '../../linux/iptables/real.js';
import type { IptablesVariant } from '../../linux/iptables/types.js';
import type { Family } from '../../util/ip.js';
import { isFirewallChain, isFirewallSet } from '../model/names.js';
import { parsePod } from '../../k8s/kinds/pod.js';
import type { FirewallTracker } from '../model/tracker.js';
import { kernelTestTracker, pod } from '../kernel-world.test-support.js';
import { IptablesFirewallBackend, jumpRule } from './backend.js';


const FOREIGN_IPT = (family: Family): string =>
  ['*filter', ':FOREIGN - [0:0]', `-A FOREIGN -s ${family === 4 ? '198.18.9.0/24' : '2001:db8:9::/64'} -j DROP`, '-A FORWARD -j FOREIGN', '-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT', 'COMMIT', ''].join('\n');

function foreignPart(save: string): string {
  return save
    .split('\n')
    .filter((l) => !l.startsWith('#') && !/KUBE-|KRT-/.test(l))
    .map((l) => l.replace(/\[\d+:\d+\]/, ''))
    .join('\n');
}

for (const variant of ['legacy', 'nft'] as IptablesVariant[]) {
  describe(`firewall backend on real iptables-${variant} and ipset in a netns`, function () {
    this.timeout(60_000);
    let ns: ThrowawayNetns;
    before(async () => {
      ns = await throwawayNetns();
    });
    after(async () => {
      await ns.remove();
    });

    it('writes exactly the model, leaves foreign rules and sets alone, resyncs with zero writes, repairs tampering, cleans up only ours', async () => {
      const ipset = new RealIpset(ns.exec);
      const ipt = { 4: new RealIptables(ns.exec, 4, variant), 6: new RealIptables(ns.exec, 6, variant) } as const;
      for (const f of [4, 6] as const) await ipt[f].restore(FOREIGN_IPT(f));
      await ipset.restore('create foreign-set hash:ip family inet\nadd foreign-set 198.18.9.9\n');
      const before = { 4: foreignPart(await ipt[4].save('filter')), 6: foreignPart(await ipt[6].save('filter')) };

      const t = kernelTestTracker();
      const backends = ([4, 6] as const).map((f) => new IptablesFirewallBackend(f, ipt[f], ipset));
      const sync = async (full: boolean): Promise<number> => {
        const { changed } = t.chains();
        const touched = t.sets.takeTouched();
        let w = 0;
        for (const b of backends) w += (await b.sync(t.desired(b.family) as NonNullable<ReturnType<FirewallTracker['desired']>>, touched, changed, full)).writes;
        return w;
      };
      const assertKernelIsModel = async (): Promise<void> => {
        const m = t.model();
        const sets = await ipset.save();
        for (const f of [4, 6] as const) {
          const save = await ipt[f].save('filter');
          const chains = new Map<string, string[]>();
          for (const l of save.split('\n')) {
            if (l.startsWith(':') && isFirewallChain(l.slice(1).split(' ')[0] ?? '')) chains.set(l.slice(1).split(' ')[0] ?? '', []);
            const mm = /^-A (\S+) (.*)$/.exec(l);
            if (mm) chains.get(mm[1] as string)?.push(mm[2] as string);
          }
          const model = m.get(f);
          assert.ok(model);
          // Byte for byte: what we render is iptables-save's canonical form, on both variants.
          assert.deepEqual(chains, new Map([...model.chains].map(([c, r]) => [c, [...r]])));
          for (const b of ['INPUT', 'FORWARD', 'OUTPUT'] as const) assert.ok(save.includes(`-A ${b} ${jumpRule(b)}\n`), `${b} jumps to ours`);
          const ours = new Map(sets.filter((s) => s.family === f && isFirewallSet(s.name)).map((s) => [s.name, [...s.entries].sort()]));
          assert.deepEqual(ours, new Map([...model.sets].map(([n, s]) => [n, [...s.entries]])));
        }
      };

      assert.ok((await sync(true)) > 0);
      await assertKernelIsModel();
      assert.equal(await sync(true), 0, 'a full resync of an unchanged model writes nothing');

      // A pod change: only set members move, and a resync after it is again a no-op.
      t.setPod('x/b', parsePod(pod('x', 'b', ['198.18.64.13', '2001:db8:64::13'], { pod: 'b' })));
      const w = await sync(false);
      assert.ok(w > 0 && w <= 40, `a pod IP change (in 8 sets per family: policies and cluster policies select it) wrote ${w} lines`);
      await assertKernelIsModel();
      assert.equal(await sync(true), 0);

      // Tampering: a flushed chain, a lost set member, a foreign rule pushed above our jump.
      await ns.exec.run([`iptables-${variant}`, '-F', 'KUBE-NWPLCY-INGRESS']);
      await ns.exec.run(['ipset', 'del', 'KRT-NP-LOCAL-PODS', '198.18.64.11']);
      await ns.exec.run([`iptables-${variant}`, '-I', 'INPUT', '1', '-p', 'udp', '--dport', '9', '-j', 'ACCEPT']);
      assert.ok((await sync(true)) > 0);
      await assertKernelIsModel();
      const input = (await ipt[4].save('filter')).split('\n').filter((l) => l.startsWith('-A INPUT '));
      assert.equal(input[0], `-A INPUT ${jumpRule('INPUT')}`);
      await ns.exec.run([`iptables-${variant}`, '-D', 'INPUT', '-p', 'udp', '--dport', '9', '-j', 'ACCEPT']);
      assert.equal(await sync(true), 0);

      // A policy removed: its chains and sets go, nothing foreign does.
      t.setPolicy('x/p1', undefined);
      assert.ok((await sync(false)) > 0);
      await assertKernelIsModel();
      assert.equal(foreignPart(await ipt[4].save('filter')), before[4]);
      assert.equal(foreignPart(await ipt[6].save('filter')), before[6]);

      await cleanupIptables(ipt[4]);
      await cleanupIptables(ipt[6]);
      await cleanupIpsets(ipset);
      assert.equal(foreignPart(await ipt[4].save('filter')), before[4]);
      assert.equal(foreignPart(await ipt[6].save('filter')), before[6]);
      assert.ok(!(await ipt[4].save('filter')).includes('KUBE-'));
      const left = await ipset.save();
      assert.deepEqual(left.map((s) => s.name), ['foreign-set']);
      assert.deepEqual(left[0]?.entries, ['198.18.9.9']);
    });
  });
}
