import assert from 'node:assert/strict';
import type { LearnedPath } from '../bgp/speaker/rib.js';
import { KUBE_ROUTER_RT_PROTO, type Route } from '../linux/netlink/types.js';
import type { CIDR, IP } from '../util/ip.js';
import { explainRoutes } from './inspect-routes.js';
import type { RouteModel } from './route-model.js';

const route = (dst: string, via?: string, dev = 'eth0', table = 254): Route => ({ dst: dst as CIDR, ...(via ? { gateway: via as IP } : {}), dev, table, protocol: KUBE_ROUTER_RT_PROTO });

describe('routes inspection (pure)', () => {
  it('explains each kernel route by the decision and the BGP path behind it; flags missing and unexpected ones', () => {
    const direct = route('198.18.65.0/24', '198.18.0.12');
    const tunnel = route('198.18.66.0/24', undefined, 'kr-ABCDEFGHIJKL');
    const model = {
      families: [4],
      learned: true,
      decisions: [
        { kind: 'direct', route: direct },
        { kind: 'tunnel', route: tunnel, remote: '198.18.1.13' },
      ],
      routes: [direct, tunnel],
      tunnels: { locals: {}, remotes: ['198.18.1.13'], encap: { kind: 'vxlan' } },
      tunnelRoutes: [route('198.18.1.13', undefined, 'kr-ABCDEFGHIJKL', 77)],
      rules: [{ family: 4, priority: 32763, from: '198.18.64.0/24', table: 77 }],
      chains: {},
      egressSets: {},
      sysctls: [],
    } as unknown as RouteModel;
    const best = [{ prefix: '198.18.65.0/24', nextHop: '198.18.0.12', peer: '198.18.0.12', asPath: [] }] as unknown as LearnedPath[];
    const rows = explainRoutes(model, best, [direct, route('198.18.99.0/24', '198.18.0.99')], [{ family: 4, priority: 32763, from: '198.18.64.0/24' as CIDR, table: 77 }]);
    assert.deepEqual(
      rows.map((r) => `${r.kind} ${r.table} ${r.what} ${r.state} ${r.reason}${r.peer ? ` ${r.peer}` : ''}`),
      [
        'route 77 198.18.1.13 missing policy routing: host route to the tunnel (table 77)',
        'route 254 198.18.65.0/24 installed bgp 198.18.0.12',
        'route 254 198.18.66.0/24 missing tunnel to 198.18.1.13',
        'route 254 198.18.99.0/24 unexpected not wanted any more (removed at the next sync)',
        'rule 77 from 198.18.64.0/24 priority 32763 installed policy routing: pod traffic to remote nodes goes through the tunnels',
      ],
    );
  });
});
