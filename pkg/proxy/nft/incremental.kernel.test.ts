import assert from 'node:assert/strict';
import fc from 'fast-check';
import { throwawayNetns, type ThrowawayNetns } from '../../../test/throwaway-netns.js';
import { RealNftables } from '../../linux/nftables/real.js';
import type { CIDR, IP, Port } from '../../util/ip.js';
import type { RenderContext } from '../backend.js';
import type { FamilyModel, Frontend } from '../model/types.js';
import { COUNTER_SETS, TABLE } from './layout.js';
import { renderDelta, renderFull, type AppliedState } from './render.js';

const ctx: RenderContext = { opts: { masqueradeAll: false, rejectUnserved: true }, isLocal: (a) => a === '198.18.0.10' };
/** The same with the per-frontend traffic counters (on while metrics are served). */
const withCounters: RenderContext = { ...ctx, opts: { ...ctx.opts, serviceCounters: true } };

/** A frontend drawn from a small pool, so steps collide on keys and change handlers, classes and affinity sets. */
const frontendArb = fc.record({
  vip: fc.constantFrom('198.18.128.10', '198.18.128.11', '198.18.128.12', '198.18.0.10'),
  port: fc.constantFrom(80, 53),
  protocol: fc.constantFrom('TCP' as const, 'UDP' as const),
  backends: fc.integer({ min: 0, max: 3 }),
  affinity: fc.constantFrom(undefined, 600, 10800),
  masquerade: fc.boolean(),
  hairpin: fc.boolean(),
});
const modelArb = fc.array(frontendArb, { maxLength: 5 });

type Drawn = { vip: string; port: number; protocol: 'TCP' | 'UDP'; backends: number; affinity: number | undefined; masquerade: boolean; hairpin: boolean };

function model(drawn: readonly Drawn[]): FamilyModel {
  const frontends = new Map<string, Frontend>();
  for (const d of drawn) {
    const f: Frontend = {
      ip: d.vip as IP,
      port: d.port as Port,
      protocol: d.protocol,
      kind: d.vip === '198.18.0.10' ? 'nodeport' : 'cluster',
      service: 'default/s:p',
      backends: Array.from({ length: d.backends }, (_, i) => ({ ip: `198.18.64.${i + 2}` as IP, port: 8080 as Port })),
      masquerade: d.masquerade,
      hairpin: d.hairpin,
      scheduler: 'rr',
      schedFlags: [],
      ...(d.affinity !== undefined ? { affinitySeconds: d.affinity } : {}),
    };
    frontends.set(`${f.ip} . ${f.protocol.toLowerCase()} . ${f.port}`, f);
  }
  return { family: 4, frontends, podCIDRs: ['198.18.64.0/24' as CIDR], localIPs: ['198.18.0.10' as IP] };
}

/**
 * The table as the kernel has it, canonical: blocks (sets, maps, chains) sorted by name since the kernel
 * lists them in creation order, rules in their order, set elements sorted (a hash set lists in its own).
 */
async function kernelState(ns: ThrowawayNetns, nft: RealNftables): Promise<string> {
  const sets = (await nft.dump('ip', TABLE))?.sets ?? new Map();
  const text = (await ns.exec.run(['nft', 'list', 'table', 'ip', TABLE])).stdout.replace(/elements = \{[^}]*\}/g, 'elements = {…}');
  const blocks = text.replace(/packets \d+ bytes \d+/g, 'packets … bytes …').split(/\n(?=\t(?:set|map|chain|counter) )/).slice(1).map((b) => b.replace(/\n\}\s*$/, '').trim()).sort();
  return JSON.stringify([blocks, [...sets.entries()].sort(([a], [b]) => (a < b ? -1 : 1))], null, 1);
}

describe('proxy nftables: incremental equals from scratch on the real kernel', function () {
  this.timeout(240_000);
  let a: ThrowawayNetns;
  let b: ThrowawayNetns;
  before(async () => {
    a = await throwawayNetns();
    b = await throwawayNetns();
  });
  after(async () => {
    await a.remove();
    await b.remove();
  });

  it('a new handler chain for a backend count already in use applies as a delta (it failed with "conflicting protocols specified: ip vs. th")', async () => {
    const nft = new RealNftables(a.exec);
    const first = model([{ vip: '198.18.128.10', port: 80, protocol: 'TCP', backends: 1, affinity: undefined, masquerade: true, hairpin: false }]);
    const { script, state } = renderFull(first, ctx);
    await nft.apply(script);
    const next = model([
      { vip: '198.18.128.10', port: 80, protocol: 'TCP', backends: 1, affinity: undefined, masquerade: true, hairpin: false },
      { vip: '198.18.128.11', port: 80, protocol: 'TCP', backends: 1, affinity: 600, masquerade: true, hairpin: false },
    ]);
    const plan = renderDelta(state, next, ['198.18.128.11 . tcp . 80'], ctx);
    assert.match(plan.script, /add chain ip kube-router-proxy svc-1-m-a/);
    await nft.apply(plan.script);
  });

  for (const [label, c] of [['', ctx], [' (with per-frontend counters)', withCounters]] as const) {
  it(`random sequences of frontend changes${label}: every delta commits and the kernel equals a from-scratch render after each step`, async () => {
    const na = new RealNftables(a.exec);
    const nb = new RealNftables(b.exec);
    await fc.assert(
      fc.asyncProperty(fc.array(modelArb, { minLength: 1, maxLength: 6 }), async (steps) => {
        let state: AppliedState | undefined;
        let prev = new Set<string>();
        for (const drawn of steps) {
          const m = model(drawn);
          if (!state) {
            const full = renderFull(m, c);
            await na.apply(full.script);
            state = full.state;
          } else {
            const plan = renderDelta(state, m, new Set([...prev, ...m.frontends.keys()]), c);
            if (plan.script !== '') await na.apply(plan.script);
            plan.commit(state);
          }
          prev = new Set(m.frontends.keys());
          await nb.apply(renderFull(m, c).script);
          assert.equal(await kernelState(a, na), await kernelState(b, nb));
          if (c.opts.serviceCounters) for (const set of Object.values(COUNTER_SETS)) assert.deepEqual([...((await na.listSetCounters('ip', TABLE, set)) ?? new Map()).keys()].sort(), [...m.frontends.keys()].sort(), `${set}: one counted element per frontend`);
        }
      }),
      { numRuns: 12, seed: 4242, endOnFailure: true },
    );
  });
  }
});
