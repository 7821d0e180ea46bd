import assert from 'node:assert/strict';
import { ErrorCode, isKubeRouterError } from '../../util/errors.js';
import type { CIDR, IP } from '../../util/ip.js';
import { isOwnedNexthop, KUBE_ROUTER_RT_PROTO, OWNED_NEXTHOP_IDS, type Netlink, type Route } from './types.js';

export interface NetlinkSubject {
  readonly nl: Netlink;
  /** Adds a veth-like interface `krt0` (another tool's doing), up, with no address. */
  addUplink(): Promise<void>;
  /** Another tool deletes the route to `dst` in the main table (`ip route del`). */
  deleteRouteAsOther(dst: string): Promise<void>;
  close(): Promise<void>;
}

const ip = (s: string): IP => s as IP;
const cidr = (s: string): CIDR => s as CIDR;

/** Behaviour every Netlink must show, against the fake and iproute2 in a netns. */
export function netlinkContract(label: string, make: () => Promise<NetlinkSubject>): void {
  describe(`netlink contract: ${label}`, function () {
    this.timeout(30_000);
    let s: NetlinkSubject;
    beforeEach(async () => {
      s = await make();
      await s.addUplink();
      await s.nl.apply([{ op: 'addr-add', dev: 'krt0', ip: ip('198.18.0.1'), prefix: 24 }, { op: 'addr-add', dev: 'krt0', ip: ip('2001:db8::1'), prefix: 64 }]);
    });
    afterEach(async () => {
      await s.close();
    });

    const route = (dst: string, gw: string, table = 254): Route => ({ dst: cidr(dst), gateway: ip(gw), table, protocol: KUBE_ROUTER_RT_PROTO });

    it('replaces routes idempotently and lists exactly ours by protocol', async () => {
      const r = route('198.19.1.0/24', '198.18.0.2');
      await s.nl.apply([{ op: 'route-replace', route: r }, { op: 'route-replace', route: r }, { op: 'route-replace', route: route('198.19.2.0/24', '198.18.0.3', 77) }]);
      const main = await s.nl.routes(4, { protocol: KUBE_ROUTER_RT_PROTO });
      assert.deepEqual(main.map((x) => [x.dst, x.gateway, x.dev]), [['198.19.1.0/24', '198.18.0.2', 'krt0']]);
      const all = await s.nl.routes(4, { table: 'all', protocol: KUBE_ROUTER_RT_PROTO });
      assert.deepEqual(all.map((x) => [x.dst, x.table, x.protocol]).sort(), [['198.19.1.0/24', 254, KUBE_ROUTER_RT_PROTO], ['198.19.2.0/24', 77, KUBE_ROUTER_RT_PROTO]]);
      const t77 = await s.nl.routes(4, { table: 77 });
      assert.deepEqual(t77.map((x) => x.dst), ['198.19.2.0/24']);
    });

    it('a deletion of our routes by another tool is reported, of others\' routes and our own additions is not', async () => {
      let heard = 0;
      const stop = s.nl.watchRouteDeletions(KUBE_ROUTER_RT_PROTO, () => heard++);
      try {
        // The watch may take a moment to be in place (a worker thread, a process).
        await new Promise((r) => setTimeout(r, 300));
        const many = Array.from({ length: 200 }, (_, i) => route(`198.19.${Math.floor(i / 100)}.${i % 100}/32`, '198.18.0.2'));
        await s.nl.apply([...many.map((r) => ({ op: 'route-replace' as const, route: r })), { op: 'route-replace', route: { ...route('198.19.7.0/24', '198.18.0.2'), protocol: 12 } }, { op: 'route-replace', route: route('2001:db8:7::/64', '2001:db8::2') }]);
        await s.deleteRouteAsOther('198.19.7.0/24');
        await new Promise((r) => setTimeout(r, 400));
        assert.equal(heard, 0, 'additions and another protocol\'s deletion are not ours to hear');
        await s.deleteRouteAsOther('198.19.0.5/32');
        for (let i = 0; i < 100 && heard === 0; i++) await new Promise((r) => setTimeout(r, 20));
        assert.ok(heard >= 1, 'our IPv4 route\'s deletion was reported');
        const before = heard;
        await s.deleteRouteAsOther('2001:db8:7::/64');
        for (let i = 0; i < 100 && heard === before; i++) await new Promise((r) => setTimeout(r, 20));
        assert.ok(heard > before, 'our IPv6 route\'s deletion was reported');
      } finally {
        stop();
      }
    });

    it('nexthop objects: created exclusively (an id taken is AlreadyExists), listed with their protocol; routes through them read back with the gateway; deleting one takes its routes', async () => {
      const id = OWNED_NEXTHOP_IDS.base + 1;
      const nh4 = { id, gateway: ip('198.18.0.2'), dev: 'krt0', protocol: KUBE_ROUTER_RT_PROTO };
      const nh6 = { id: id + 1, gateway: ip('2001:db8::2'), dev: 'krt0', protocol: KUBE_ROUTER_RT_PROTO };
      const other = { id: 7, gateway: ip('198.18.0.3'), dev: 'krt0', protocol: 12 };
      await s.nl.apply([{ op: 'nexthop-add', nexthop: nh4 }, { op: 'nexthop-add', nexthop: nh6 }, { op: 'nexthop-add', nexthop: other }]);
      // Another tool's object is never replaced: the id is refused.
      await assert.rejects(s.nl.apply([{ op: 'nexthop-add', nexthop: { ...other, protocol: KUBE_ROUTER_RT_PROTO, gateway: ip('198.18.0.9') } }]), (e: unknown) => isKubeRouterError(e, ErrorCode.AlreadyExists));
      const listed = (await s.nl.nexthops()).map((n) => `${n.id} ${n.gateway} ${n.dev} ${n.protocol}`).sort();
      assert.deepEqual(listed, [`${id + 1} 2001:db8::2 krt0 44`, `${id} 198.18.0.2 krt0 44`, '7 198.18.0.3 krt0 12'].sort());
      assert.deepEqual((await s.nl.nexthops()).filter(isOwnedNexthop).map((n) => n.id).sort(), [id, id + 1]);
      const many = Array.from({ length: 300 }, (_, i): Route => ({ dst: cidr(`198.19.${Math.floor(i / 100)}.${i % 100}/32`), table: 254, protocol: KUBE_ROUTER_RT_PROTO, nexthop: id }));
      await s.nl.apply([...many.map((r) => ({ op: 'route-replace' as const, route: r })), { op: 'route-replace', route: { dst: cidr('2001:db8:5::/64'), table: 254, protocol: KUBE_ROUTER_RT_PROTO, nexthop: id + 1 } }, { op: 'route-replace', route: route('198.19.9.0/24', '198.18.0.2') }]);
      const v4 = await s.nl.routes(4, { protocol: KUBE_ROUTER_RT_PROTO });
      assert.equal(v4.length, 301);
      const one = v4.find((r) => r.dst === '198.19.1.7/32');
      assert.deepEqual([one?.nexthop, one?.gateway, one?.dev], [id, '198.18.0.2', 'krt0']);
      assert.equal(v4.find((r) => r.dst === '198.19.9.0/24')?.nexthop, undefined, 'a route with its own gateway has no nexthop object');
      assert.deepEqual((await s.nl.routes(6, { protocol: KUBE_ROUTER_RT_PROTO })).map((r) => [r.dst, r.nexthop, r.gateway]), [['2001:db8:5::/64', id + 1, '2001:db8::2']]);
      assert.equal((await s.nl.nexthops()).find((n) => n.id === 7)?.gateway, '198.18.0.3', 'unchanged');
      // A route through a nexthop object that is not there, or an IPv6 route through an IPv4 gateway, is refused.
      await assert.rejects(s.nl.apply([{ op: 'route-replace', route: { dst: cidr('198.19.8.0/24'), table: 254, protocol: KUBE_ROUTER_RT_PROTO, nexthop: id + 9 } }]));
      await assert.rejects(s.nl.apply([{ op: 'route-replace', route: { dst: cidr('2001:db8:8::/64'), table: 254, protocol: KUBE_ROUTER_RT_PROTO, nexthop: id } }]));
      // One delete takes 300 routes; the others stay.
      await s.nl.apply([{ op: 'nexthop-delete', id }]);
      assert.deepEqual((await s.nl.routes(4, { protocol: KUBE_ROUTER_RT_PROTO })).map((r) => r.dst), ['198.19.9.0/24']);
      await assert.rejects(s.nl.apply([{ op: 'nexthop-delete', id }]), (e: unknown) => isKubeRouterError(e, ErrorCode.NotFound));
      assert.deepEqual((await s.nl.nexthops()).map((n) => n.id).sort(), [7, id + 1].sort());
      // Its device deleted, a nexthop object goes with its routes.
      await s.nl.apply([{ op: 'link-add-bridge', name: 'krt-nh' }, { op: 'link-set', name: 'krt-nh', up: true }, { op: 'addr-add', dev: 'krt-nh', ip: ip('198.18.9.1'), prefix: 24 }]);
      await s.nl.apply([{ op: 'nexthop-add', nexthop: { id: id + 2, gateway: ip('198.18.9.2'), dev: 'krt-nh', protocol: KUBE_ROUTER_RT_PROTO } }, { op: 'route-replace', route: { dst: cidr('198.19.6.0/24'), table: 254, protocol: KUBE_ROUTER_RT_PROTO, nexthop: id + 2 } }]);
      await s.nl.apply([{ op: 'link-delete', name: 'krt-nh' }]);
      assert.equal((await s.nl.nexthops()).some((n) => n.id === id + 2), false);
      assert.equal((await s.nl.routes(4, { protocol: KUBE_ROUTER_RT_PROTO })).some((r) => r.dst === '198.19.6.0/24'), false);
    });

    it('IPv6 routes and host routes', async () => {
      await s.nl.apply([{ op: 'route-replace', route: route('2001:db8:1::/64', '2001:db8::2') }, { op: 'route-replace', route: route('198.19.9.9/32', '198.18.0.9') }]);
      assert.deepEqual((await s.nl.routes(6, { protocol: KUBE_ROUTER_RT_PROTO })).map((x) => x.dst), ['2001:db8:1::/64']);
      assert.deepEqual((await s.nl.routes(4, { protocol: KUBE_ROUTER_RT_PROTO })).map((x) => x.dst), ['198.19.9.9/32']);
    });

    it('an unreachable gateway is refused; onlink is accepted', async () => {
      await assert.rejects(s.nl.apply([{ op: 'route-replace', route: route('198.19.3.0/24', '198.17.0.1') }]));
      await s.nl.apply([{ op: 'route-replace', route: { ...route('198.19.3.0/24', '198.17.0.1'), dev: 'krt0', onlink: true } }]);
      assert.equal((await s.nl.routes(4, { protocol: KUBE_ROUTER_RT_PROTO }))[0]?.onlink, true);
    });

    it('a table nobody has used lists no routes (it does not exist yet in the kernel)', async () => {
      assert.deepEqual(await s.nl.routes(4, { table: 78 }), []);
      assert.deepEqual(await s.nl.routes(6, { table: 78, protocol: 44 }), []);
    });

    it('deleting a route that is not there is a typed not-found', async () => {
      await assert.rejects(s.nl.apply([{ op: 'route-delete', route: route('198.19.4.0/24', '198.18.0.2') }]), (e: unknown) => isKubeRouterError(e, ErrorCode.NotFound));
      await s.nl.apply([{ op: 'route-replace', route: route('198.19.4.0/24', '198.18.0.2') }]);
      await s.nl.apply([{ op: 'route-delete', route: route('198.19.4.0/24', '198.18.0.2') }]);
      assert.deepEqual(await s.nl.routes(4, { protocol: KUBE_ROUTER_RT_PROTO }), []);
    });

    it('local routes with a preferred source (as the IPVS VIPs\' on their device (a bridge here: this kernel has no dummy) in table local, DSR\'s default in its table): replaced, listed, deleted', async () => {
      await s.nl.apply([{ op: 'link-add-bridge', name: 'krt-dummy' }, { op: 'link-set', name: 'krt-dummy', up: true }, { op: 'addr-add', dev: 'krt-dummy', ip: ip('198.18.0.77'), prefix: 32 }]);
      const vip: Route = { dst: cidr('198.19.0.10/32'), type: 'local', table: 255, dev: 'krt-dummy', src: ip('198.18.0.77'), protocol: KUBE_ROUTER_RT_PROTO, scope: 'host' };
      const dsr: Route = { dst: cidr('0.0.0.0/0'), type: 'local', table: 78, dev: 'lo', protocol: KUBE_ROUTER_RT_PROTO, scope: 'host' };
      await s.nl.apply([{ op: 'route-replace', route: vip }, { op: 'route-replace', route: vip }, { op: 'route-replace', route: dsr }]);
      const local = await s.nl.routes(4, { table: 255, protocol: KUBE_ROUTER_RT_PROTO });
      assert.deepEqual(local.map((r) => `${r.type} ${r.dst} ${r.dev} ${r.src}`), ['local 198.19.0.10/32 krt-dummy 198.18.0.77']);
      assert.deepEqual((await s.nl.routes(4, { table: 78 })).map((r) => `${r.type} ${r.dst} ${r.dev}`), ['local 0.0.0.0/0 lo']);
      await s.nl.apply([{ op: 'route-delete', route: { dst: vip.dst, type: 'local', table: 255, dev: 'krt-dummy', protocol: KUBE_ROUTER_RT_PROTO } }, { op: 'route-delete', route: dsr }]);
      assert.deepEqual(await s.nl.routes(4, { table: 255, protocol: KUBE_ROUTER_RT_PROTO }), []);
      assert.deepEqual(await s.nl.routes(4, { table: 78 }), []);
      await s.nl.apply([{ op: 'link-delete', name: 'krt-dummy' }]);
    });

    it('a bridge with an address; a vxlan device; link delete', async () => {
      await s.nl.apply([
        { op: 'link-add-bridge', name: 'krt-br0' },
        { op: 'link-set', name: 'krt-br0', up: true, mtu: 1400 },
        { op: 'addr-add', dev: 'krt-br0', ip: ip('198.18.5.1'), prefix: 24 },
        { op: 'link-add-vxlan', name: 'krt-vx0', vni: 4096, local: ip('198.18.0.1'), port: 4789, dev: 'krt0' },
        { op: 'link-set', name: 'krt-vx0', up: true },
      ]);
      const links = await s.nl.links();
      const br = links.find((l) => l.name === 'krt-br0');
      assert.equal(br?.kind, 'bridge');
      assert.equal(br?.mtu, 1400);
      assert.equal(br?.up, true);
      assert.equal(links.find((l) => l.name === 'krt-vx0')?.kind, 'vxlan');
      assert.ok((await s.nl.addresses(4)).some((a) => a.dev === 'krt-br0' && a.ip === '198.18.5.1' && a.prefix === 24));
      // A point-to-point VXLAN with a fixed MAC, a permanent neighbour and an on-link route through it.
      await s.nl.apply([
        { op: 'link-add-vxlan', name: 'krt-vx1', vni: 4097, local: ip('198.18.0.1'), remote: ip('198.18.0.9'), mac: '02:11:22:33:44:55', port: 4789, dev: 'krt0' },
        { op: 'link-set', name: 'krt-vx1', up: true },
        { op: 'neigh-replace', dev: 'krt-vx1', ip: ip('198.18.0.9'), mac: '02:aa:bb:cc:dd:ee' },
        { op: 'route-replace', route: { dst: cidr('198.18.99.0/24'), gateway: ip('198.18.0.9'), dev: 'krt-vx1', onlink: true, table: 254, protocol: KUBE_ROUTER_RT_PROTO } },
      ]);
      assert.ok((await s.nl.routes(4, { protocol: KUBE_ROUTER_RT_PROTO })).some((r) => r.dst === '198.18.99.0/24' && r.dev === 'krt-vx1' && r.gateway === '198.18.0.9'));
      await s.nl.apply([{ op: 'link-delete', name: 'krt-vx0' }, { op: 'link-delete', name: 'krt-vx1' }]);
      assert.equal((await s.nl.links()).some((l) => l.name === 'krt-vx0'), false);
      await assert.rejects(s.nl.apply([{ op: 'link-add-bridge', name: 'krt-br0' }]), (e: unknown) => isKubeRouterError(e, ErrorCode.AlreadyExists));
    });

    it('policy rules for both families: add, list, refuse a duplicate, delete', async () => {
      const r4 = { family: 4 as const, priority: 100, from: cidr('198.19.0.0/24'), table: 77 };
      const r6 = { family: 6 as const, priority: 100, from: cidr('2001:db8:9::/64'), table: 77 };
      await s.nl.apply([{ op: 'rule-add', rule: r4 }, { op: 'rule-add', rule: r6 }]);
      assert.ok((await s.nl.rules(4)).some((r) => r.priority === 100 && r.from === '198.19.0.0/24' && r.table === 77));
      assert.ok((await s.nl.rules(6)).some((r) => r.priority === 100 && r.from === '2001:db8:9::/64' && r.table === 77));
      await assert.rejects(s.nl.apply([{ op: 'rule-add', rule: r4 }]));
      await s.nl.apply([{ op: 'rule-delete', rule: r4 }, { op: 'rule-delete', rule: r6 }]);
      assert.equal((await s.nl.rules(4)).some((r) => r.priority === 100), false);
    });
  });
}
