import assert from 'node:assert/strict';
import { FakeIpset } from '../linux/ipset/fake.js';
import { FakeIptables } from '../linux/iptables/fake.js';
import { FakeNftables } from '../linux/nftables/fake.js';
import type { CIDR } from '../util/ip.js';
import { EVERYTHING } from '../k8s/kinds/label-selector.js';
import { IptablesFirewallBackend } from './iptables/backend.js';
import { NftFirewallBackend } from './nft/backend.js';
import { FirewallTracker } from './model/tracker.js';
import type { FirewallBackend } from './backend.js';

/** Counts the kernel reads of a fake: a call to `save` or `dump`, and what it returned at that moment. */
function counting<T extends object>(fake: T, method: keyof T & string): { fake: T; reads: () => number } {
  let n = 0;
  const orig = (fake[method] as (...a: unknown[]) => unknown).bind(fake);
  Object.assign(fake, { [method]: (...a: unknown[]) => (n++, orig(...a)) });
  return { fake, reads: () => n };
}

describe('firewall: a full sync reads the kernel while the model is computed (prefetch)', () => {
  const world = (): FirewallTracker => {
    const t = new FirewallTracker('n1', [4], { defaultDeny: false, serviceClusterIPRanges: ['198.18.128.0/20' as CIDR], sctp: true });
    t.setNode({ name: 'n1', podCIDRs: ['198.18.64.0/24' as CIDR] });
    t.setNamespace('x', { name: 'x', labels: {} });
    t.setPolicy('x/deny', { namespace: 'x', name: 'deny', podSelector: EVERYTHING, ingress: [] });
    return t;
  };
  const cases: { name: string; make: () => { b: FirewallBackend; reads: () => number; tamper: () => Promise<void> } }[] = [
    {
      name: 'iptables',
      make: () => {
        const ipt = counting(new FakeIptables(4), 'save');
        const b = new IptablesFirewallBackend(4, ipt.fake, new FakeIpset());
        // (the fake's own view, not through the counted save)
        const tamper = (): Promise<void> => ipt.fake.restore(`*filter\n-F ${ipt.fake.chains('filter').find((x) => x.startsWith('KUBE-NWPLCY-')) ?? '-'}\nCOMMIT\n`);
        return { b, reads: ipt.reads, tamper };
      },
    },
    {
      name: 'nftables',
      make: () => {
        const fake = new FakeNftables();
        const rawDump = fake.dump.bind(fake); // (the fake's own view, not through the counted dump)
        const tamper = async (): Promise<void> => {
          const chain = [...((await rawDump('ip', 'kube-router-netpol'))?.chains.keys() ?? [])].find((x) => x !== 'forward' && x !== 'output' && x !== 'input');
          await fake.apply(`flush chain ip kube-router-netpol ${chain ?? '-'}\n`);
        };
        const nft = counting(fake, 'dump');
        const b = new NftFirewallBackend(4, nft.fake);
        return { b, reads: nft.reads, tamper: async () => tamper() };
      },
    },
  ];
  for (const c of cases) {
    it(`${c.name}: the prefetched read is the sync's only read; a partial sync reads nothing; a read from before a change is never used twice`, async () => {
      const t = world();
      const { b, reads, tamper } = c.make();
      const sync = async (forceFull: boolean): Promise<string> => {
        b.prefetch(forceFull);
        const { changed } = t.chains();
        return (await b.sync(t.desired(4) as NonNullable<ReturnType<FirewallTracker['desired']>>, t.sets.takeTouched(), changed, forceFull)).mode;
      };
      assert.equal(await sync(false), 'full', 'the first sync is full');
      assert.equal(reads(), 1, 'one read, started by prefetch');
      assert.equal(await sync(false), 'noop');
      assert.equal(reads(), 1, 'a partial sync reads nothing');
      // Someone flushes one of our chains; the periodic (full) sync reads the kernel as it is now and repairs it.
      await tamper();
      assert.equal(await sync(true), 'full', 'the periodic sync found the tampering');
      assert.equal(reads(), 2);
      assert.equal(await sync(true), 'noop', 'repaired: the next full sync writes nothing');
      assert.equal(reads(), 3);
      // A prefetch whose sync never ran is not used by a later full sync that prefetched again.
      b.prefetch(true);
      assert.equal(await sync(true), 'noop');
      assert.equal(reads(), 5);
      // Nor by a full sync after a write: that read is stale.
      b.prefetch(true);
      t.setPolicy('x/deny', undefined);
      const { changed } = t.chains();
      assert.equal((await b.sync(t.desired(4) as NonNullable<ReturnType<FirewallTracker['desired']>>, t.sets.takeTouched(), changed, false)).mode, 'partial');
      const { changed: again } = t.chains();
      assert.equal((await b.sync(t.desired(4) as NonNullable<ReturnType<FirewallTracker['desired']>>, t.sets.takeTouched(), again, true)).mode, 'noop', 'the full sync read the kernel as the write left it');
      assert.equal(reads(), 7, 'a read of its own: the partial sync dropped the prefetch it did not use');
    });
  }
});
