import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { LearnedPath } from '../bgp/speaker/rib.js';
import type { Address, Nexthop, Route } from '../linux/netlink/types.js';
import { planNexthops, withNexthop } from './nexthops.js';
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
        // With nexthop objects: the gateways' ids as the last whole sync left them (none before the first).
        let objects: { ids: ReadonlyMap<string, number>; have: Nexthop[] } | undefined = nexthops ? { ids: new Map(), have: [] } : undefined;
        const wholeRoutes = (): Route[] => {
          const model = computeRouteModel({ ...base, best: best.values() });
          return model.routes.filter((r) => r.table === MAIN_TABLE).map((r) => (objects ? withNexthop(r, objects.ids) : r));
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
            objects?.ids,
          );
          const whole = wholeRoutes();
          if (d.kind === 'full') {
            // Only a route of the burst through a tunnel (now or before), or through a gateway with no
            // nexthop object yet, asks for it; the whole sync then installs the model.
            const tunnel = burst.some((c) => whole.find((r) => r.dst === c.prefix)?.dev !== undefined || installed.get(c.prefix)?.dev !== undefined);
            const newGateway = burst.some((c) => {
              const r = whole.find((x) => x.dst === c.prefix);
              return objects !== undefined && r !== undefined && r.dev === undefined && r.nexthop === undefined;
            });
            assert.ok(tunnel || newGateway, 'a prefix of the burst goes or went through a tunnel, or through a gateway without an object');
            assert.ok(overlay || !tunnel, 'no tunnels without the overlay');
            if (objects) {
              const plan = planNexthops(computeRouteModel({ ...base, best: best.values() }).nexthops, objects.have, { keep: false });
              const have = [...objects.have.filter((n) => !plan.remove.includes(n.id)), ...plan.replace];
              objects = { ids: plan.ids, have };
            }
            installed.clear();
            for (const r of wholeRoutes()) installed.set(r.dst, r);
            continue;
          }
          for (const o of d.ops) {
            if (o.op === 'route-replace') installed.set(o.route.dst, o.route);
            else installed.delete(o.route.dst);
          }
          assert.equal(d.added + d.removed, d.ops.length);
          assert.deepEqual([...installed.values()].map(key).sort(), whole.map(key).sort());
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
    assert.deepEqual(first.ops.map((o) => `${o.op} ${key(o.route)}`), ['route-replace 198.18.65.0/24 198.18.0.12  ']);
    for (const o of first.ops) installed.set(o.route.dst, o.route);
    const again = learnedDelta(['198.18.65.0/24'], best, decide, installed);
    assert.deepEqual(again.kind === 'ops' ? again.ops : 'full', []);
    best.set('198.18.4.0/24', path('198.18.4.0/24', '198.18.0.12'));
    best.set('198.18.0.0/16', path('198.18.0.0/16', '198.18.0.12'));
    best.delete('198.18.65.0/24');
    const next = learnedDelta(['198.18.4.0/24', '198.18.0.0/16', '198.18.65.0/24'], best, decide, installed);
    assert.deepEqual(next.kind === 'ops' ? next.ops.map((o) => `${o.op} ${o.route.dst}`) : 'full', ['route-delete 198.18.65.0/24']);
  });

  it('a route through a tunnel asks for a whole sync', function () {
    const base = input(true);
    const decide = routeDecider(base.addresses, base.ownPrefixes, overlayChoice(base));
    const d = learnedDelta(['198.18.66.0/24'], new Map([['198.18.66.0/24', path('198.18.66.0/24', '198.18.1.14')]]), decide, new Map());
    assert.equal(d.kind, 'full');
  });
});
