import assert from 'node:assert/strict';
import type { IP } from '../util/ip.js';
import { pairVni, tunnelMac, tunnelName, tunnelOps } from './overlay.js';
import { decideRoutes } from './route-installer.js';
import type { LearnedPath } from '../bgp/speaker/rib.js';

const ip = (s: string): IP => s as IP;

describe('overlay tunnels (pure parts)', () => {
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
