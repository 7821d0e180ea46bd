import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { LearnedPath } from '../bgp/speaker/rib.js';
import { isOwnedNexthop, OWNED_NEXTHOP_IDS, type Address, type Nexthop, type Route } from '../linux/netlink/types.js';
import { planNexthops, withNexthop, type NexthopState } from './nexthops.js';
import type { CIDR, IP } from '../util/ip.js';
import { learnedDelta } from './learned-delta.js';
import { computeRouteModel, MAIN_TABLE, overlayChoice, routeDecider, type RouteModelInput } from './route-model.js';

const path = (prefix: string, nextHop: string): LearnedPath => ({ prefix: prefix as CIDR, nextHop: nextHop as IP, asPath: [], origin: 0, communities: [], peer: nextHop as IP, peerId: nextHop as IP, ibgp: true });
const addresses: Address[] = [{ ip: '198.18.0.11' as IP, prefix: 24, dev: 'eth0' }];
const PREFIXES = ['198.18.65.0/24', '198.18.66.0/24', '198.18.67.0/24', '198.18.4.0/24', '198.18.0.0/16'];
// On our subnet, off it (unreachable without the overlay), ourselves.
const NEXT_HOPS = ['198.18.0.12', '198.18.0.13', '198.18.1.14', '198.18.0.11'];

function input(overlay: boolean): Omit<RouteModelInput, 'best'> {
  return { families: [4], addresses, ownPrefixes: ['198.18.4.0/24' as CIDR], nextHop: { 4: '198.18.0.11' as IP }, overlay: { enabled: overlay, type: 'subnet', encap: { kind: 'ipip' }, available: true } };
}

const key = (r: Route): string => `${r.dst} ${r.gateway ?? ''} ${r.dev ?? ''} ${r.nexthop ?? ''}`;

describe('learned routes one prefix at a time (learnedDelta)', function () {
  it('after any sequence of best-path changes, the routes in place equal a whole model of the same paths (or a whole sync was asked for)', function () {
    const change = fc.record({ prefix: fc.constantFrom(...PREFIXES), nextHop: fc.option(fc.constantFrom(...NEXT_HOPS), { nil: undefined }) });
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.array(fc.array(change, { maxLength: 4 }), { maxLength: 8 }), (overlay, nexthops, bursts) => {
        const base = input(overlay);
        const decide = routeDecider(base.addresses, base.ownPrefixes, overlayChoice(base));
        const best = new Map<string, LearnedPath>();
        const installed = new Map<string, Route>();
        // With nexthop objects: the objects in the "kernel" (another tool's first, in our range) and the gateways' ids.
        const foreign: Nexthop = { id: OWNED_NEXTHOP_IDS.base, gateway: '198.18.0.99' as IP, dev: 'eth0', protocol: 12 };
        let objects: { state: NexthopState; have: Nexthop[] } | undefined = nexthops ? { state: { ids: new Map(), taken: new Set([foreign.id]) }, have: [foreign] } : undefined;
        const wholeRoutes = (): Route[] => {
          const model = computeRouteModel({ ...base, best: best.values() });
          return model.routes.filter((r) => r.table === MAIN_TABLE).map((r) => (objects ? withNexthop(r, objects.state.ids) : r));
        };
        for (const burst of bursts) {
          for (const c of burst) {
            if (c.nextHop) best.set(c.prefix, path(c.prefix, c.nextHop));
            else best.delete(c.prefix);
          }
          const d = learnedDelta(
            burst.map((c) => c.prefix),
            best,
            decide,
            installed,
            objects?.state,
          );
          if (d.kind === 'full') {
            // Only a route of the burst through a tunnel (now or before) asks for it; the whole sync then installs the model.
            assert.ok(overlay, 'no tunnels without the overlay');
            assert.ok(burst.some((c) => computeRouteModel({ ...base, best: best.values() }).routes.find((r) => r.dst === c.prefix)?.dev !== undefined || installed.get(c.prefix)?.dev !== undefined), 'a prefix of the burst goes or went through a tunnel');
            if (objects) {
              const plan = planNexthops(computeRouteModel({ ...base, best: best.values() }).nexthops, objects.have, { keep: false });
              objects = { state: plan, have: [...objects.have.filter((n) => !plan.remove.includes(n.id)), ...plan.add] };
            }
            installed.clear();
            for (const r of wholeRoutes()) installed.set(r.dst, r);
            continue;
          }
          for (const o of d.ops) {
            if (o.op === 'route-replace') installed.set(o.route.dst, o.route);
            else if (o.op === 'route-delete') installed.delete(o.route.dst);
            else {
              assert.ok(objects, 'nexthop objects only where the kernel has them');
              assert.ok(!objects.have.some((n) => n.id === o.nexthop.id), `a new object's id ${o.nexthop.id} is free`);
              assert.ok(isOwnedNexthop(o.nexthop), 'and ours');
              objects.have.push(o.nexthop);
            }
          }
          if (objects && d.nexthops) objects.state = d.nexthops;
          assert.equal(d.added + d.removed, d.ops.filter((o) => o.op !== 'nexthop-add').length);
          // Every route through an object goes through one that exists and leads to its gateway.
          for (const r of installed.values()) if (r.nexthop !== undefined) assert.equal(objects?.have.find((n) => n.id === r.nexthop)?.gateway, r.gateway);
          assert.deepEqual([...installed.values()].map(key).sort(), wholeRoutes().map(key).sort());
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('writes nothing for a path that decides the same route again, deletes on withdrawal, never routes our own prefix or a prefix holding our address', function () {
    const base = input(false);
    const decide = routeDecider(base.addresses, base.ownPrefixes, overlayChoice(base));
    const installed = new Map<string, Route>();
    const best = new Map([['198.18.65.0/24', path('198.18.65.0/24', '198.18.0.12')]]);
    const first = learnedDelta(['198.18.65.0/24'], best, decide, installed);
    assert.equal(first.kind, 'ops');
    if (first.kind !== 'ops') return;
    assert.deepEqual(first.ops.map((o) => ('route' in o ? `${o.op} ${key(o.route)}` : o.op)), ['route-replace 198.18.65.0/24 198.18.0.12  ']);
    for (const o of first.ops) if ('route' in o) installed.set(o.route.dst, o.route);
    const again = learnedDelta(['198.18.65.0/24'], best, decide, installed);
    assert.deepEqual(again.kind === 'ops' ? again.ops : 'full', []);
    best.set('198.18.4.0/24', path('198.18.4.0/24', '198.18.0.12'));
    best.set('198.18.0.0/16', path('198.18.0.0/16', '198.18.0.12'));
    best.delete('198.18.65.0/24');
    const next = learnedDelta(['198.18.4.0/24', '198.18.0.0/16', '198.18.65.0/24'], best, decide, installed);
    assert.deepEqual(next.kind === 'ops' ? next.ops.map((o) => ('route' in o ? `${o.op} ${o.route.dst}` : o.op)) : 'full', ['route-delete 198.18.65.0/24']);
  });

  it('with nexthop objects: a new gateway gets the lowest free id of our range, created before its routes; a known one is reused', function () {
    const base = input(false);
    const decide = routeDecider(base.addresses, base.ownPrefixes, overlayChoice(base));
    const b = OWNED_NEXTHOP_IDS.base;
    const state: NexthopState = { ids: new Map([['198.18.0.12', b + 1]]), taken: new Set([b, b + 1, b + 2]) };
    const best = new Map([
      ['198.18.65.0/24', path('198.18.65.0/24', '198.18.0.12')],
      ['198.18.66.0/24', path('198.18.66.0/24', '198.18.0.13')],
      ['198.18.67.0/24', path('198.18.67.0/24', '198.18.0.13')],
    ]);
    const d = learnedDelta(best.keys(), best, decide, new Map(), state);
    assert.equal(d.kind, 'ops');
    if (d.kind !== 'ops') return;
    assert.deepEqual(d.ops.map((o) => ('route' in o ? `${o.op} ${o.route.dst} ${o.route.nexthop ?? '-'}` : `${o.op} ${o.nexthop.id} ${o.nexthop.gateway} ${o.nexthop.dev}`)), [
      `nexthop-add ${b + 3} 198.18.0.13 eth0`,
      `route-replace 198.18.65.0/24 ${b + 1}`,
      `route-replace 198.18.66.0/24 ${b + 3}`,
      `route-replace 198.18.67.0/24 ${b + 3}`,
    ]);
    assert.deepEqual([d.added, d.removed], [3, 0]);
    assert.deepEqual([...(d.nexthops?.ids ?? [])], [['198.18.0.12', b + 1], ['198.18.0.13', b + 3]]);
    assert.deepEqual([...state.ids.keys()], ['198.18.0.12'], 'the state handed in is not changed');
  });

  it('a route through a tunnel asks for a whole sync', function () {
    const base = input(true);
    const decide = routeDecider(base.addresses, base.ownPrefixes, overlayChoice(base));
    const d = learnedDelta(['198.18.66.0/24'], new Map([['198.18.66.0/24', path('198.18.66.0/24', '198.18.1.14')]]), decide, new Map());
    assert.equal(d.kind, 'full');
  });
});
