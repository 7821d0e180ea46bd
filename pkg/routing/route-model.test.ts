import assert from 'node:assert/strict';
import type { LearnedPath } from '../bgp/speaker/rib.js';
import { fakeKernel } from '../linux/fake-adapters.js';
import { FakeIpset } from '../linux/ipset/fake.js';
import type { IpsetSpec } from '../linux/ipset/types.js';
import { FakeNetlink } from '../linux/netlink/fake.js';
import { KUBE_ROUTER_RT_PROTO, OWNED_NEXTHOP_IDS } from '../linux/netlink/types.js';
import type { KernelAdapters } from '../linux/adapters.js';
import { memoryLogger } from '../util/logger.js';
import type { CIDR, IP } from '../util/ip.js';
import { tunnelName } from './overlay.js';
import { RouteApplier } from './route-apply.js';
import { computeRouteModel, TUNNEL_RULE_PRIORITY, TUNNEL_TABLE, type RouteModelInput } from './route-model.js';

const ip = (s: string): IP => s as IP;
const cidr = (s: string): CIDR => s as CIDR;
const path = (prefix: string, nextHop: string): LearnedPath => ({ prefix: cidr(prefix), nextHop: ip(nextHop), asPath: [], origin: 0, communities: [], peer: ip(nextHop), peerId: ip(nextHop), ibgp: true });

async function node(): Promise<{ kernel: KernelAdapters; nl: FakeNetlink }> {
  const nl = new FakeNetlink();
  nl.addLink('eth0');
  await nl.apply([{ op: 'addr-add', dev: 'eth0', ip: ip('198.18.0.11'), prefix: 24 }]);
  return { kernel: fakeKernel({ netlink: nl }), nl };
}

function input(best: LearnedPath[] | undefined, over: Partial<RouteModelInput> = {}): RouteModelInput {
  return {
    families: [4],
    ...(best ? { best } : {}),
    addresses: [{ dev: 'eth0', ip: ip('198.18.0.11'), prefix: 24 }],
    ownPrefixes: [cidr('198.18.64.0/24')],
    nextHop: { 4: ip('198.18.0.11') },
    overlay: { enabled: false, type: 'subnet', encap: { kind: 'vxlan' }, available: true },
    ...over,
  };
}

const ours = async (nl: FakeNetlink, table = 254): Promise<string[]> => (await nl.routes(4, { table, protocol: KUBE_ROUTER_RT_PROTO })).map((r) => `${r.dst} via ${r.gateway ?? '-'} dev ${r.dev ?? '-'}`).sort();

describe('routing: RouteModel computed once, applied by the kernel adapters', () => {
  const log = memoryLogger(0).logger;

  it('installs learned routes, removes ours that went, never touches another protocol\'s routes, and keeps ours while deferring', async () => {
    const { kernel, nl } = await node();
    await nl.apply([{ op: 'route-replace', route: { dst: cidr('198.18.70.0/24'), gateway: ip('198.18.0.99'), table: 254, protocol: 4 } }]);
    const a = new RouteApplier(kernel, log);
    await a.apply(computeRouteModel(input([path('198.18.65.0/24', '198.18.0.12'), path('198.18.66.0/24', '198.18.0.13'), path('198.18.64.0/24', '198.18.0.12')])), { checkKernel: true, keepUnwanted: false });
    assert.deepEqual(await ours(nl), ['198.18.65.0/24 via 198.18.0.12 dev eth0', '198.18.66.0/24 via 198.18.0.13 dev eth0'], 'our own pod CIDR is never routed away');
    await a.apply(computeRouteModel(input([path('198.18.65.0/24', '198.18.0.12')])), { checkKernel: false, keepUnwanted: true });
    assert.equal((await ours(nl)).length, 2, 'graceful-restart deferral keeps the previous routes');
    const r = await a.apply(computeRouteModel(input([path('198.18.65.0/24', '198.18.0.12')])), { checkKernel: false, keepUnwanted: false });
    assert.deepEqual([r.added, r.removed], [0, 1]);
    assert.deepEqual(nl.batches.at(-1), [`nexthop delete id ${OWNED_NEXTHOP_IDS.base + 1}`], 'the route through a gateway no longer used went with its nexthop object');
    assert.deepEqual(await ours(nl), ['198.18.65.0/24 via 198.18.0.12 dev eth0']);
    assert.ok((await nl.routes(4)).some((x) => x.dst === '198.18.70.0/24' && x.protocol === 4), 'a route of another protocol stays');
    const again = await a.apply(computeRouteModel(input([path('198.18.65.0/24', '198.18.0.12')])), { checkKernel: false, keepUnwanted: false });
    assert.deepEqual([again.added, again.removed], [0, 0], 'nothing changed: nothing written');
  });

  it('nexthop objects: one per gateway shared by its routes; another tool\'s object in our id range keeps its id and is never touched; an old kernel gets plain routes', async () => {
    const { kernel, nl } = await node();
    const base = OWNED_NEXTHOP_IDS.base;
    nl.addNexthopAsOther({ id: base, gateway: ip('198.18.0.50'), dev: 'eth0', protocol: 12 });
    // A route of ours from before nexthop objects (plain `via`) is moved onto one.
    await nl.apply([{ op: 'route-replace', route: { dst: cidr('198.18.65.0/24'), gateway: ip('198.18.0.12'), table: 254, protocol: KUBE_ROUTER_RT_PROTO } }]);
    const a = new RouteApplier(kernel, log);
    const paths = [path('198.18.65.0/24', '198.18.0.12'), path('198.18.66.0/24', '198.18.0.12'), path('198.18.67.0/24', '198.18.0.13')];
    const r = await a.apply(computeRouteModel(input(paths)), { checkKernel: true, keepUnwanted: false });
    assert.deepEqual([...(r.nexthops?.ids ?? [])], [['198.18.0.12', base + 1], ['198.18.0.13', base + 2]]);
    const routes = await nl.routes(4, { protocol: KUBE_ROUTER_RT_PROTO });
    assert.deepEqual(routes.map((x) => `${x.dst} ${x.nexthop ?? '-'} ${x.gateway ?? '-'}`), [`198.18.65.0/24 ${base + 1} 198.18.0.12`, `198.18.66.0/24 ${base + 1} 198.18.0.12`, `198.18.67.0/24 ${base + 2} 198.18.0.13`]);
    const again = await a.apply(computeRouteModel(input(paths)), { checkKernel: true, keepUnwanted: false });
    assert.deepEqual([again.added, again.removed], [0, 0], 'in place: nothing written');
    // The peer behind .12 withdraws everything: one delete for its two routes.
    const batches = nl.batches.length;
    const gone = await a.apply(computeRouteModel(input([paths[2] as LearnedPath])), { checkKernel: false, keepUnwanted: false });
    assert.deepEqual([gone.added, gone.removed], [0, 2]);
    assert.deepEqual(nl.batches.slice(batches), [[`nexthop delete id ${base + 1}`]]);
    assert.deepEqual((await nl.nexthops()).map((n) => `${n.id} ${n.protocol}`), [`${base} 12`, `${base + 2} 44`], "the other tool's object stays");
    // A kernel without nexthop objects: routes carry their gateway.
    const old = await node();
    old.nl.nexthopsSupported = false;
    const b = new RouteApplier(old.kernel, log);
    const plain = await b.apply(computeRouteModel(input(paths)), { checkKernel: true, keepUnwanted: false });
    assert.equal(plain.nexthops, undefined);
    assert.deepEqual((await old.nl.routes(4, { protocol: KUBE_ROUTER_RT_PROTO })).map((x) => `${x.dst} ${x.nexthop ?? '-'} ${x.gateway ?? '-'}`), ['198.18.65.0/24 - 198.18.0.12', '198.18.66.0/24 - 198.18.0.12', '198.18.67.0/24 - 198.18.0.13']);
  });

  it('while BGP is not running, nothing learned is touched', async () => {
    const { kernel, nl } = await node();
    const a = new RouteApplier(kernel, log);
    await a.apply(computeRouteModel(input([path('198.18.65.0/24', '198.18.0.12')])), { checkKernel: true, keepUnwanted: false });
    const model = computeRouteModel(input(undefined));
    assert.equal(model.learned, false);
    await a.apply(model, { checkKernel: true, keepUnwanted: false });
    assert.deepEqual(await ours(nl), ['198.18.65.0/24 via 198.18.0.12 dev eth0']);
  });

  it('overlay: a tunnel per remote node, its route, table 77 and our rule; all of it goes with the node, and only ours', async () => {
    const { kernel, nl } = await node();
    nl.addLink('kr-foreign');
    await nl.apply([{ op: 'rule-add', rule: { family: 4, priority: 100, from: cidr('198.18.64.0/24'), table: TUNNEL_TABLE } }]);
    const a = new RouteApplier(kernel, log);
    const overlay = { enabled: true, type: 'subnet' as const, encap: { kind: 'vxlan' as const }, available: true };
    await a.apply(computeRouteModel(input([path('198.18.66.0/24', '198.18.1.13')], { overlay })), { checkKernel: true, keepUnwanted: false });
    const t = tunnelName(ip('198.18.1.13'));
    assert.deepEqual(await ours(nl), [`198.18.66.0/24 via 198.18.1.13 dev ${t}`]);
    assert.deepEqual(await ours(nl, TUNNEL_TABLE), [`198.18.1.13/32 via - dev ${t}`]);
    assert.ok((await nl.rules(4)).some((r) => r.priority === TUNNEL_RULE_PRIORITY && r.from === '198.18.64.0/24' && r.table === TUNNEL_TABLE));
    await a.apply(computeRouteModel(input([], { overlay: { ...overlay, enabled: false } })), { checkKernel: true, keepUnwanted: false });
    const links = (await nl.links()).map((l) => l.name);
    assert.ok(!links.includes(t), 'our tunnel went with the node');
    assert.ok(links.includes('kr-foreign'), 'a link that only starts like ours is not ours');
    assert.deepEqual(await ours(nl, TUNNEL_TABLE), []);
    const rules = await nl.rules(4);
    assert.ok(!rules.some((r) => r.priority === TUNNEL_RULE_PRIORITY && r.table === TUNNEL_TABLE), 'our rule went');
    assert.ok(rules.some((r) => r.priority === 100 && r.table === TUNNEL_TABLE), 'a rule of someone else pointing at table 77 stays');
  });

  it('a failing step (the pod-egress sets) does not stop the routes; the failure is reported after both ran', async () => {
    const { nl } = await node();
    class BrokenIpset extends FakeIpset {
      override restore(): Promise<void> {
        return Promise.reject(new Error('ipset v7: broken'));
      }
    }
    const kernel = fakeKernel({ netlink: nl, ipset: new BrokenIpset() });
    const a = new RouteApplier(kernel, log);
    const model = computeRouteModel(input([path('198.18.65.0/24', '198.18.0.12')], { podEgress: { podCIDRs: [cidr('198.18.64.0/24')], nodeIPs: [ip('198.18.0.11')] } }));
    const sets: readonly IpsetSpec[] = model.egressSets[4] ?? [];
    assert.deepEqual(sets.map((s) => `${s.name}: ${s.entries.join(',')}`), ['kube-router-pod-subnets: 198.18.64.0/24', 'kube-router-node-ips: 198.18.0.11']);
    await assert.rejects(a.apply(model, { checkKernel: true, keepUnwanted: false }), /egress sets \(IPv4\) failed/);
    assert.deepEqual(await ours(nl), ['198.18.65.0/24 via 198.18.0.12 dev eth0']);
  });

  it('FORWARD and pod-egress chains: written once, nothing on an unchanged re-check, repaired after tampering', async () => {
    const { kernel } = await node();
    const a = new RouteApplier(kernel, log);
    const model = computeRouteModel(input([], { podEgress: { podCIDRs: [cidr('198.18.64.0/24')], nodeIPs: [ip('198.18.0.11')] } }));
    await a.apply(model, { checkKernel: true, keepUnwanted: false });
    const ipt = kernel.iptables[4];
    const nat = await ipt.save('nat');
    assert.match(nat, /-A POSTROUTING -m comment --comment "kube-router pod egress" -j KUBE-ROUTER-POD-EGRESS/);
    assert.match(await ipt.save('filter'), /-A FORWARD -m comment --comment "kube-router pod forwarding" -j KUBE-ROUTER-FORWARD-ACCEPT/);
    const restores = (ipt as unknown as { restores: string[] }).restores.length;
    await a.apply(model, { checkKernel: true, keepUnwanted: false });
    assert.equal((ipt as unknown as { restores: string[] }).restores.length, restores, 'a re-check with nothing changed writes nothing');
    await ipt.restore('*nat\n-I POSTROUTING 1 -j ACCEPT\nCOMMIT\n');
    await a.apply(model, { checkKernel: true, keepUnwanted: false });
    const post = (await ipt.save('nat')).split('\n').filter((l) => l.startsWith('-A POSTROUTING'));
    assert.equal(post[0], '-A POSTROUTING -m comment --comment "kube-router pod egress" -j KUBE-ROUTER-POD-EGRESS', 'our jump is back on top');
  });
});
