import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { LearnedPath } from '../bgp/speaker/rib.js';
import { fakeKernel } from '../linux/fake-adapters.js';
import { FakeNetlink } from '../linux/netlink/fake.js';
import { KUBE_ROUTER_RT_PROTO } from '../linux/netlink/types.js';
import type { CIDR, IP } from '../util/ip.js';
import { memoryLogger } from '../util/logger.js';
import { RouteApplier } from './route-apply.js';
import { computeRouteModel, TUNNEL_TABLE } from './route-model.js';

const path = (prefix: string, nextHop: string): LearnedPath => ({ prefix: prefix as CIDR, nextHop: nextHop as IP, asPath: [], origin: 0, communities: [], peer: nextHop as IP, peerId: nextHop as IP, ibgp: true });
const routeArb = fc.record({ prefix: fc.constantFrom('198.18.65.0/24', '198.18.66.0/24', '198.18.67.0/24', '198.18.68.0/24'), nextHop: fc.constantFrom('198.18.0.12', '198.18.0.13', '198.18.1.14', '198.18.1.15') });
const stepArb = fc.record({ routes: fc.array(routeArb, { maxLength: 4 }), overlay: fc.boolean(), type: fc.constantFrom('subnet' as const, 'full' as const), egress: fc.boolean() });

async function node(): Promise<{ nl: FakeNetlink; applier: RouteApplier }> {
  const nl = new FakeNetlink();
  nl.addLink('eth0');
  await nl.apply([{ op: 'addr-add', dev: 'eth0', ip: '198.18.0.11' as IP, prefix: 24 }]);
  return { nl, applier: new RouteApplier(fakeKernel({ netlink: nl }), memoryLogger(0).logger) };
}

async function state(nl: FakeNetlink): Promise<string> {
  const routes = [...(await nl.routes(4, { protocol: KUBE_ROUTER_RT_PROTO })), ...(await nl.routes(4, { table: TUNNEL_TABLE, protocol: KUBE_ROUTER_RT_PROTO }))].map((r) => `${r.table} ${r.dst} ${r.gateway ?? ''} ${r.dev ?? ''}`).sort();
  const links = (await nl.links()).map((l) => `${l.name} ${l.kind ?? ''} ${String(l.up)}`).sort();
  const rules = (await nl.rules(4)).map((r) => `${r.priority} ${r.from ?? ''} ${r.table}`).sort();
  return [...routes, ...links, ...rules].join('\n');
}

describe('routing: incremental equals from scratch (property, kernel fakes)', function () {
  this.timeout(120_000);
  it('random sequences of learned routes, overlay on and off: the kernel after each apply equals a fresh node given the last model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 8 }), async (steps) => {
        const live = await node();
        for (const s of steps) {
          // One best path per prefix, as the RIB gives.
          const best = [...new Map(s.routes.map((r) => [r.prefix, path(r.prefix, r.nextHop)])).values()];
          const input = {
            families: [4] as const,
            best,
            addresses: [{ dev: 'eth0', ip: '198.18.0.11' as IP, prefix: 24 }],
            ownPrefixes: ['198.18.64.0/24' as CIDR],
            nextHop: { 4: '198.18.0.11' as IP },
            overlay: { enabled: s.overlay, type: s.type, encap: { kind: 'vxlan' as const }, available: true },
            ...(s.egress ? { podEgress: { podCIDRs: ['198.18.64.0/24' as CIDR], nodeIPs: ['198.18.0.11' as IP] } } : {}),
          };
          await live.applier.apply(computeRouteModel(input), { checkKernel: false, keepUnwanted: false });
          const fresh = await node();
          await fresh.applier.apply(computeRouteModel(input), { checkKernel: true, keepUnwanted: false });
          assert.equal(await state(live.nl), await state(fresh.nl));
        }
      }),
      { numRuns: 80, seed: 99, endOnFailure: true },
    );
  });
});
