import assert from 'node:assert/strict';
import { parseSave } from '../linux/iptables/save.js';
import type { Route } from '../linux/netlink/types.js';
import type { CIDR, IP } from '../util/ip.js';
import { planUpstreamMigration } from './migrate-upstream.js';

const route = (dst: string, extra: Partial<Route> = {}): Route => ({ dst: dst as CIDR, table: 254, protocol: 17, ...extra });

describe("taking over from upstream kube-router's router (plan)", () => {
  it('removes its tunnels, its pod routes, its FORWARD and egress rules; adopts the rest; leaves look-alikes', () => {
    const p = planUpstreamMigration({
      links: [{ name: 'tun-0123456789a', kind: 'ipip' }, { name: 'tun-19216801', kind: 'ip6tnl' }, { name: 'tun-abc', kind: 'vxlan' }, { name: 'tun0', kind: 'ipip' }, { name: 'kube-bridge', kind: 'bridge' }],
      routes: [
        route('198.18.65.0/24', { dev: 'tun-0123456789a' }),
        route('198.18.66.0/24', { gateway: '198.18.0.13' as IP }),
        route('198.18.66.0/25', { gateway: '198.18.0.250' as IP }),
        route('198.19.77.0/24', { gateway: '198.18.0.3' as IP }),
        route('198.18.66.0/24', { protocol: 44 }),
      ],
      iptables: [
        {
          family: 4,
          filter: parseSave([
            ':FORWARD ACCEPT [0:0]',
            '-A FORWARD -m comment --comment "allow outbound traffic from pods" -i kube-bridge -j ACCEPT',
            '-A FORWARD -m comment --comment "allow inbound traffic to pods" -o kube-bridge -j ACCEPT',
            '-A FORWARD -m comment --comment "allow outbound node port traffic on node interface with which node ip is associated" -o eth0 -j ACCEPT',
            '-A FORWARD -m comment --comment "someone else" -i kube-bridge -j ACCEPT',
            '-A FORWARD -m comment --comment "kube-router pod forwarding" -j KUBE-ROUTER-FORWARD-ACCEPT',
          ].join('\n')),
          nat: parseSave([
            ':POSTROUTING ACCEPT [0:0]',
            '-A POSTROUTING -m set --match-set kube-router-pod-subnets src -m set ! --match-set kube-router-pod-subnets dst -m set ! --match-set kube-router-node-ips dst -j MASQUERADE --random-fully',
            '-A POSTROUTING -m set ! --match-set kube-router-pod-subnets src -j MASQUERADE',
            '-A POSTROUTING -m comment --comment "kube-router pod egress" -j KUBE-ROUTER-POD-EGRESS',
          ].join('\n')),
        },
      ],
      clusterPodCIDRs: ['198.18.64.0/24', '198.18.65.0/24', '198.18.66.0/24'] as CIDR[],
    });
    assert.deepEqual(p.removed, [
      'route 198.18.66.0/24 via 198.18.0.13 proto 17 table 254',
      'route 198.18.66.0/25 via 198.18.0.250 proto 17 table 254',
      'link tun-0123456789a',
      'link tun-19216801',
      'iptables v4 FORWARD -m comment --comment "allow outbound traffic from pods" -i kube-bridge -j ACCEPT',
      'iptables v4 FORWARD -m comment --comment "allow inbound traffic to pods" -o kube-bridge -j ACCEPT',
      'iptables v4 FORWARD -m comment --comment "allow outbound node port traffic on node interface with which node ip is associated" -o eth0 -j ACCEPT',
      'iptables v4 POSTROUTING -m set --match-set kube-router-pod-subnets src -m set ! --match-set kube-router-pod-subnets dst -m set ! --match-set kube-router-node-ips dst -j MASQUERADE --random-fully',
    ]);
    assert.ok(p.netOps.every((o) => o.op !== 'route-delete' || o.route.protocol === 17), 'never a route of ours');
    assert.equal(p.iptables.length, 1);
    assert.match(p.iptables[0]?.text ?? '', /^\*filter\n-D FORWARD .*\nCOMMIT\n\*nat\n-D POSTROUTING .*\nCOMMIT\n$/s);
  });

  it('a node that never ran upstream: nothing to do', () => {
    const p = planUpstreamMigration({ links: [{ name: 'kube-bridge', kind: 'bridge' }, { name: 'kr-ABCDEFGHIJKL', kind: 'ipip' }], routes: [], iptables: [{ family: 4, filter: parseSave(':FORWARD ACCEPT [0:0]'), nat: parseSave(':POSTROUTING ACCEPT [0:0]') }], clusterPodCIDRs: ['198.18.64.0/24'] as CIDR[] });
    assert.deepEqual([p.removed, p.netOps, p.iptables], [[], [], []]);
  });
});
