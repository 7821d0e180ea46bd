import assert from 'node:assert/strict';
import type { IP } from '../util/ip.js';
import { pairVni, tunnelMac, tunnelName, tunnelOps } from './overlay.js';
import { decideRoutes, tunnelNodeRoutes, TUNNEL_TABLE } from './route-model.js';
import type { LearnedPath } from '../bgp/speaker/rib.js';

const ip = (s: string): IP => s as IP;

describe('overlay tunnels (pure parts)', () => {
  it('policy routing: one host route per tunnelled node in table 77, none for direct or unreachable peers', () => {
    const routes = tunnelNodeRoutes([
      { kind: 'tunnel', remote: ip('198.18.1.13'), route: { dst: '198.18.66.0/24' as never, gateway: ip('198.18.1.13'), dev: 'kr-AAAA', onlink: true, table: 254, protocol: 44 } },
      { kind: 'tunnel', remote: ip('2001:db8:1::13'), route: { dst: '2001:db8:66::/64' as never, gateway: ip('2001:db8:1::13'), dev: 'kr-BBBB', onlink: true, table: 254, protocol: 44 } },
      { kind: 'direct', route: { dst: '198.18.65.0/24' as never, gateway: ip('198.18.0.12'), table: 254, protocol: 44 }, dev: 'eth0' },
    ]);
    assert.deepEqual(routes.map((r) => `${r.dst} dev ${r.dev ?? ''} table ${r.table}`), [`198.18.1.13/32 dev kr-AAAA table ${TUNNEL_TABLE}`, `2001:db8:1::13/128 dev kr-BBBB table ${TUNNEL_TABLE}`]);
  });

  it('ipip and fou: one ipip (ip6tnl for IPv6) link per remote, FoU ports per family, no neighbours; a tunnel of another kind is remade', () => {
    const locals = { 4: { ip: ip('198.18.0.1') }, 6: { ip: ip('2001:db8::1') } };
    const ops = tunnelOps(locals, [ip('198.18.1.2'), ip('2001:db8::2')], [], { kind: 'fou', port: 5555 });
    assert.deepEqual(ops.filter((o) => o.op === 'fou-add'), [{ op: 'fou-add', family: 4, port: 5555 }, { op: 'fou-add', family: 6, port: 5555 }]);
    assert.deepEqual(ops.filter((o) => o.op === 'link-add-ipip').map((o) => o.op === 'link-add-ipip' && `${o.local}>${o.remote}:${String(o.fouPort)}`), ['198.18.0.1>198.18.1.2:5555', '2001:db8::1>2001:db8::2:5555']);
    assert.equal(ops.filter((o) => o.op === 'neigh-replace').length, 0);
    const plain = tunnelOps(locals, [ip('198.18.1.2')], [], { kind: 'ipip' });
    assert.deepEqual(plain.map((o) => o.op), ['link-add-ipip', 'link-set']);
    const vxlanThere = [{ name: tunnelName(ip('198.18.1.2')), index: 9, kind: 'vxlan', mtu: 1450, up: true }];
    assert.deepEqual(tunnelOps(locals, [ip('198.18.1.2')], vxlanThere, { kind: 'ipip' }).map((o) => o.op), ['link-delete', 'link-add-ipip', 'link-set'], '--overlay-encap changed');
    assert.deepEqual(tunnelOps(locals, [ip('198.18.1.2')], [{ ...vxlanThere[0] as (typeof vxlanThere)[number], kind: 'ipip' }], { kind: 'ipip' }), [], 'nothing to do');
  });

  it('names fit IFNAMSIZ, VNIs agree from both ends, MACs are unicast and locally administered', () => {
    assert.ok(tunnelName(ip('198.18.1.13')).length <= 15);
    assert.match(tunnelName(ip('2001:db8::13')), /^kr-[A-Z2-7]{12}$/);
    assert.equal(pairVni(ip('198.18.0.11'), ip('198.18.1.13')), pairVni(ip('198.18.1.13'), ip('198.18.0.11')));
    assert.notEqual(pairVni(ip('198.18.0.11'), ip('198.18.1.13')), pairVni(ip('198.18.0.12'), ip('198.18.1.13')));
    const mac = tunnelMac(ip('198.18.0.11'), ip('198.18.1.13'));
    assert.match(mac, /^02(:[0-9a-f]{2}){5}$/);
    assert.notEqual(mac, tunnelMac(ip('198.18.1.13'), ip('198.18.0.11')));
  });

  it('tunnel ops: create and bring up what is missing, point the neighbour at the far MAC, delete only our tunnels to nodes gone', () => {
    const ops = tunnelOps({ 4: { ip: ip('198.18.0.11'), dev: 'eth0' } }, [ip('198.18.1.13'), ip('2001:db8::13')], [
      { name: tunnelName(ip('198.18.1.99')), index: 5, kind: 'vxlan', mtu: 1450, up: true },
      { name: 'flannel.1', index: 6, kind: 'vxlan', mtu: 1450, up: true },
    ]);
    assert.deepEqual(ops.map((o) => o.op), ['link-delete', 'link-add-vxlan', 'link-set', 'neigh-replace'], 'no IPv6 tunnel without an IPv6 address of ours');
    const n = ops.find((o) => o.op === 'neigh-replace');
    assert.equal(n?.op === 'neigh-replace' ? n.mac : '', tunnelMac(ip('198.18.1.13'), ip('198.18.0.11')));
  });

  it('route decisions: host-gw on our subnet, tunnel across subnets (or always with full), nothing without an overlay', () => {
    const path = (prefix: string, nextHop: string): LearnedPath => ({ prefix: prefix as LearnedPath['prefix'], nextHop: ip(nextHop), asPath: [], origin: 0, communities: [], peer: ip(nextHop), peerId: ip(nextHop), ibgp: true });
    const best = [path('198.18.65.0/24', '198.18.0.12'), path('198.18.66.0/24', '198.18.1.13')];
    const addrs = [{ dev: 'eth0', ip: ip('198.18.0.11'), prefix: 24 }];
    const kinds = (o?: Parameters<typeof decideRoutes>[3]): string[] => decideRoutes(best, addrs, [], o).map((d) => `${d.kind === 'unreachable' ? d.prefix : d.route.dst} ${d.kind}`);
    assert.deepEqual(kinds(), ['198.18.65.0/24 direct', '198.18.66.0/24 unreachable']);
    assert.deepEqual(kinds({ enabled: true, type: 'subnet', available: true, tunnelName }), ['198.18.65.0/24 direct', '198.18.66.0/24 tunnel']);
    assert.deepEqual(kinds({ enabled: true, type: 'full', available: true, tunnelName }), ['198.18.65.0/24 tunnel', '198.18.66.0/24 tunnel']);
    assert.deepEqual(kinds({ enabled: true, type: 'subnet', available: false, tunnelName }), ['198.18.65.0/24 direct', '198.18.66.0/24 unreachable'], 'ipip/fou missing from the kernel: no tunnel');
  });
});
