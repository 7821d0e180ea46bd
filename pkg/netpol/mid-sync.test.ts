import assert from 'node:assert/strict';
import { FakeIpset } from '../linux/ipset/fake.js';
import { FakeIptables } from '../linux/iptables/fake.js';
import type { CIDR } from '../util/ip.js';
import { IptablesFirewallBackend } from './iptables/backend.js';
import { EVERYTHING } from '../k8s/kinds/label-selector.js';
import { FirewallTracker } from './model/tracker.js';

describe('a policy event that arrives while a sync is writing', () => {
  it('is programmed for every family by the next sync (regression: the IPv4 chains were skipped)', async () => {
    const t = new FirewallTracker('n1', [4, 6], { defaultDeny: false, serviceClusterIPRanges: ['198.18.128.0/20' as CIDR], sctp: true });
    t.setNode({ name: 'n1', podCIDRs: ['198.18.64.0/24' as CIDR, '2001:db8:64::/64' as CIDR] });
    t.setNamespace('x', { name: 'x', labels: {} });
    const ipset = new FakeIpset();
    const ipt = { 4: new FakeIptables(4), 6: new FakeIptables(6) } as const;
    const backends = ([4, 6] as const).map((f) => new IptablesFirewallBackend(f, ipt[f], ipset));
    // The controller's sync, with a hook between the two families.
    const sync = async (between?: () => void): Promise<void> => {
      const { changed } = t.chains();
      const touched = t.sets.takeTouched();
      for (const b of backends) {
        await b.sync(t.desired(b.family) as NonNullable<ReturnType<FirewallTracker['desired']>>, touched, changed, false);
        if (b.family === 4) between?.();
      }
    };
    await sync();
    await sync(() => t.setPolicy('x/deny', { namespace: 'x', name: 'deny', podSelector: EVERYTHING, ingress: [] }));
    await sync();
    for (const f of [4, 6] as const) assert.ok(ipt[f].chains('filter').some((c) => c.startsWith('KUBE-NWPLCY-I-')), `IPv${f} has the new policy chain`);
  });
});
