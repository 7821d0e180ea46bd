import assert from 'node:assert/strict';
import { throwawayNetns } from '../../../test/throwaway-netns.js';
import { netlinkContract } from './contract.test-support.js';
import { realNetlinkSockets } from '../genl/socket.js';
import { RealNetlink, type RtnlOptions } from './real.js';
import { KUBE_ROUTER_RT_PROTO, OWNED_NEXTHOP_IDS, type Route } from './types.js';
import type { CIDR, IP } from '../../util/ip.js';

const cases: readonly { readonly name: string; readonly rtnl?: (netns: string) => RtnlOptions }[] = [
  { name: 'real iproute2 in a netns' },
  { name: 'real: routes over our own rtnetlink socket, the rest through iproute2, in a netns', rtnl: (netns) => ({ sockets: realNetlinkSockets(), netns }) },
  // As the daemon runs it: writes sent from a worker thread.
  { name: 'real: rtnetlink writes from a worker thread, in a netns', rtnl: (netns) => ({ sockets: realNetlinkSockets(), netns, writesFrom: 'worker' }) },
];

for (const c of cases) {
  netlinkContract(c.name, async () => {
    const ns = await throwawayNetns();
    return {
      nl: new RealNetlink(ns.exec, c.rtnl?.(ns.name), ns.name),
      addUplink: async () => {
        // a veth pair with its peer up too, so krt0 has carrier and connected routes
        await ns.exec.run(['ip', 'link', 'add', 'krt0', 'type', 'veth', 'peer', 'name', 'krt0p']);
        await ns.exec.run(['ip', 'link', 'set', 'krt0', 'up']);
        await ns.exec.run(['ip', 'link', 'set', 'krt0p', 'up']);
      },
      deleteRouteAsOther: async (dst: string) => {
        await ns.exec.run(['ip', dst.includes(':') ? '-6' : '-4', 'route', 'del', dst]);
      },
      close: () => ns.remove(),
    };
  });
}

describe('netlink: routes through nexthop objects with net.ipv4.nexthop_compat_mode=0', function () {
  this.timeout(30_000);
  // Without compat mode the kernel dumps such a route with its id alone: the reader fills in the gateway and device.
  for (const c of cases) {
    it(`${c.name}: a route reads back with its object's gateway and device`, async () => {
      const ns = await throwawayNetns();
      try {
        await ns.exec.run(['ip', 'link', 'add', 'krt0', 'type', 'veth', 'peer', 'name', 'krt0p']);
        await ns.exec.run(['ip', 'link', 'set', 'krt0', 'up']);
        await ns.exec.run(['ip', 'link', 'set', 'krt0p', 'up']);
        await ns.exec.run(['ip', 'address', 'add', '198.18.0.1/24', 'dev', 'krt0']);
        await ns.exec.run(['sysctl', '-qw', 'net.ipv4.nexthop_compat_mode=0']);
        const nl = new RealNetlink(ns.exec, c.rtnl?.(ns.name), ns.name);
        const id = OWNED_NEXTHOP_IDS.base + 7;
        await nl.apply([{ op: 'nexthop-add', nexthop: { id, gateway: '198.18.0.2' as IP, dev: 'krt0', protocol: KUBE_ROUTER_RT_PROTO } }, { op: 'route-replace', route: { dst: '198.19.1.0/24' as CIDR, table: 254, protocol: KUBE_ROUTER_RT_PROTO, nexthop: id } }]);
        const raw = (await ns.exec.run(['ip', 'route', 'show', 'proto', '44'])).stdout;
        assert.doesNotMatch(raw, /via/, `the kernel dumps the id alone: ${raw}`);
        const routes = await nl.routes(4, { protocol: KUBE_ROUTER_RT_PROTO });
        assert.deepEqual(routes.map((r) => [r.dst, r.nexthop, r.gateway, r.dev]), [['198.19.1.0/24', id, '198.18.0.2', 'krt0']]);
      } finally {
        await ns.remove();
      }
    });
  }
});

describe('netlink: the deletion watch of the worker does not report our own deletions', function () {
  this.timeout(30_000);
  it('our withdrawn routes and a removed nexthop object wake nobody; another tool deleting one of ours does', async () => {
    const ns = await throwawayNetns();
    const nl = new RealNetlink(ns.exec, { sockets: realNetlinkSockets(), netns: ns.name, writesFrom: 'worker' }, ns.name);
    let heard = 0;
    const stop = nl.watchRouteDeletions(KUBE_ROUTER_RT_PROTO, () => heard++);
    try {
      await ns.exec.run(['ip', 'link', 'add', 'krt0', 'type', 'veth', 'peer', 'name', 'krt0p']);
      await ns.exec.run(['ip', 'link', 'set', 'krt0', 'up']);
      await ns.exec.run(['ip', 'link', 'set', 'krt0p', 'up']);
      await ns.exec.run(['ip', 'address', 'add', '198.18.0.1/24', 'dev', 'krt0']);
      await new Promise((r) => setTimeout(r, 300));
      const id = OWNED_NEXTHOP_IDS.base;
      const routes = Array.from({ length: 200 }, (_, i): Route => ({ dst: `198.19.${Math.floor(i / 100)}.${i % 100}/32` as CIDR, table: 254, protocol: KUBE_ROUTER_RT_PROTO, ...(i % 2 === 0 ? { gateway: '198.18.0.2' as IP } : { nexthop: id }) }));
      await nl.apply([{ op: 'nexthop-add', nexthop: { id, gateway: '198.18.0.3' as IP, dev: 'krt0', protocol: KUBE_ROUTER_RT_PROTO } }, ...routes.map((route) => ({ op: 'route-replace' as const, route }))]);
      await nl.apply([...routes.filter((r) => r.nexthop === undefined).map((route) => ({ op: 'route-delete' as const, route })), { op: 'nexthop-delete', id }]);
      assert.deepEqual(await nl.routes(4, { protocol: KUBE_ROUTER_RT_PROTO }), [], 'all gone, by our own hand');
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(heard, 0, 'our own deletions are not reported');
      await nl.apply([{ op: 'route-replace', route: { dst: '198.19.9.0/24' as CIDR, gateway: '198.18.0.2' as IP, table: 254, protocol: KUBE_ROUTER_RT_PROTO } }]);
      await ns.exec.run(['ip', 'route', 'del', '198.19.9.0/24']);
      for (let i = 0; i < 100 && heard === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(heard >= 1, "another tool's deletion of our route is reported");
    } finally {
      stop();
      await ns.remove();
    }
  });
});
