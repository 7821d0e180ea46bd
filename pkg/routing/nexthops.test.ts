import assert from 'node:assert/strict';
import { KUBE_ROUTER_RT_PROTO, OWNED_NEXTHOP_IDS, type Nexthop } from '../linux/netlink/types.js';
import type { CIDR, IP } from '../util/ip.js';
import { planNexthops, withNexthop } from './nexthops.js';

const ip = (s: string): IP => s as IP;
const base = OWNED_NEXTHOP_IDS.base;
const ours = (id: number, gateway: string, dev = 'eth0'): Nexthop => ({ id, gateway: ip(gateway), dev, protocol: KUBE_ROUTER_RT_PROTO });

describe('routing: nexthop objects for learned routes (planNexthops)', () => {
  it('keeps the id of an object of ours already going that way, gives a new gateway the lowest free id of our range, removes ours nobody wants', () => {
    const have = [ours(base + 3, '198.18.0.12'), ours(base, '198.18.0.99'), { id: base + 1, gateway: ip('198.18.0.13'), dev: 'eth0', protocol: 12 }];
    const p = planNexthops([{ gateway: ip('198.18.0.12'), dev: 'eth0' }, { gateway: ip('198.18.0.13'), dev: 'eth0' }, { gateway: ip('198.18.0.12'), dev: 'eth0' }], have, { keep: false });
    assert.deepEqual([...p.ids], [['198.18.0.12', base + 3], ['198.18.0.13', base + 2]], "another tool's object at base+1 keeps its id, even for the same gateway");
    assert.deepEqual(p.add, [ours(base + 2, '198.18.0.13')]);
    assert.deepEqual(p.remove, [base], "ours that nothing wants; never another tool's");
  });

  it('an object of ours on another device, onlink, or a second one for the same gateway is not reused; keep leaves every one of ours', () => {
    const have = [ours(base, '198.18.0.12', 'eth1'), { ...ours(base + 1, '198.18.0.12'), onlink: true }, ours(base + 2, '198.18.0.12'), ours(base + 3, '198.18.0.12')];
    const p = planNexthops([{ gateway: ip('198.18.0.12'), dev: 'eth0' }], have, { keep: false });
    assert.deepEqual([...p.ids], [['198.18.0.12', base + 2]]);
    assert.deepEqual(p.add, []);
    assert.deepEqual(p.remove, [base, base + 1, base + 3]);
    assert.deepEqual(planNexthops([], have, { keep: true }).remove, [], 'graceful restart: the previous run\'s routes may still go through them');
  });

  it('ids outside our range or of another protocol are not ours; our range full, a gateway keeps plain routes', () => {
    const foreign = [{ id: base - 1, gateway: ip('198.18.0.5'), dev: 'eth0', protocol: KUBE_ROUTER_RT_PROTO }, { id: base + OWNED_NEXTHOP_IDS.span, gateway: ip('198.18.0.6'), dev: 'eth0', protocol: KUBE_ROUTER_RT_PROTO }];
    assert.deepEqual(planNexthops([], foreign, { keep: false }).remove, []);
    const full: Nexthop[] = Array.from({ length: OWNED_NEXTHOP_IDS.span }, (_, i) => ({ id: base + i, protocol: 186 }));
    const p = planNexthops([{ gateway: ip('198.18.0.12'), dev: 'eth0' }], full, { keep: false });
    assert.deepEqual([p.ids.size, p.add.length, p.remove.length], [0, 0, 0]);
    const r = { dst: '198.18.65.0/24' as CIDR, gateway: ip('198.18.0.12'), table: 254, protocol: KUBE_ROUTER_RT_PROTO };
    assert.deepEqual(withNexthop(r, p.ids), r, 'no object: the route carries its gateway');
  });

  it('withNexthop: only a direct route (a gateway, no device, not onlink) goes through an object', () => {
    const ids = new Map([['198.18.0.12', base]]);
    const r = { dst: '198.18.65.0/24' as CIDR, gateway: ip('198.18.0.12'), table: 254, protocol: KUBE_ROUTER_RT_PROTO };
    assert.equal(withNexthop(r, ids).nexthop, base);
    assert.equal(withNexthop({ ...r, dev: 'kr-ABCDEFGHIJKL', onlink: true }, ids).nexthop, undefined, 'a route through a tunnel keeps its device');
    assert.equal(withNexthop({ dst: r.dst, dev: 'eth0', table: 254, protocol: 44 }, ids).nexthop, undefined);
  });
});
