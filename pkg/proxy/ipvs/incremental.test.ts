import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeIpset } from '../../linux/ipset/fake.js';
import { FakeIptables } from '../../linux/iptables/fake.js';
import { FakeIpvs } from '../../linux/ipvs/fake.js';
import { FakeNetlink } from '../../linux/netlink/fake.js';
import { FakeSysctl } from '../../linux/sysctl.js';
import { FakeClock } from '../../util/clock.js';
import type { CIDR, IP, Port } from '../../util/ip.js';
import { memoryLogger } from '../../util/logger.js';
import type { RenderContext } from '../backend.js';
import type { FamilyModel, Frontend } from '../model/types.js';
import { IpvsProxyBackend } from './backend.js';

const ctx: RenderContext = { opts: { masqueradeAll: false, rejectUnserved: true }, isLocal: (a) => a === '198.18.0.10' };
const frontendArb = fc.record({
  vip: fc.constantFrom('198.18.128.10', '198.18.128.11', '198.18.128.12', '198.18.0.10'),
  port: fc.constantFrom(80, 53),
  protocol: fc.constantFrom('TCP' as const, 'UDP' as const),
  backends: fc.subarray(['198.18.64.2', '198.18.64.3', '198.18.64.4'], { minLength: 0 }),
  affinity: fc.constantFrom(undefined, 600),
  scheduler: fc.constantFrom('rr' as const, 'mh' as const),
  hairpin: fc.boolean(),
});
type Drawn = { vip: string; port: number; protocol: 'TCP' | 'UDP'; backends: string[]; affinity: number | undefined; scheduler: 'rr' | 'mh'; hairpin: boolean };

/** `seen` keeps one object per drawn frontend across steps, as the tracker keeps an unchanged frontend's object (the backend's memo is keyed by it). */
function model(drawn: readonly Drawn[], seen = new Map<string, Frontend>()): FamilyModel {
  const frontends = new Map<string, Frontend>();
  for (const d of drawn) {
    const f: Frontend = seen.get(JSON.stringify(d)) ?? { ip: d.vip as IP, port: d.port as Port, protocol: d.protocol, kind: d.vip === '198.18.0.10' ? 'nodeport' : 'cluster', service: 'x/s:p', backends: d.backends.map((ip) => ({ ip: ip as IP, port: 8080 as Port })), masquerade: true, hairpin: d.hairpin, scheduler: d.scheduler, schedFlags: [], ...(d.affinity !== undefined ? { affinitySeconds: d.affinity } : {}) };
    seen.set(JSON.stringify(d), f);
    frontends.set(`${f.ip} . ${f.protocol.toLowerCase()} . ${f.port}`, f);
  }
  return { family: 4, frontends, podCIDRs: ['198.18.64.0/24' as CIDR], localIPs: ['198.18.0.10' as IP], nodeIP: '198.18.0.10' as IP };
}

function node(): { backend: IpvsProxyBackend; ipvs: FakeIpvs; ipset: FakeIpset; ipt: FakeIptables; nl: FakeNetlink } {
  const ipvs = new FakeIpvs();
  const ipset = new FakeIpset();
  const ipt = new FakeIptables(4);
  const nl = new FakeNetlink();
  const backend = new IpvsProxyBackend(4, { ipvs, netlink: nl, iptables: ipt, ipset, sysctl: new FakeSysctl(), clock: new FakeClock(), logger: memoryLogger(0).logger }, { gracefulTermination: false, gracefulPeriodMs: 0, excludedCidrs: [] });
  return { backend, ipvs, ipset, ipt, nl };
}

async function state(n: ReturnType<typeof node>): Promise<string> {
  const services = await n.ipvs.services();
  const out: string[] = [];
  for (const s of services) out.push(`${JSON.stringify({ ...s, stats: undefined })} ${(await n.ipvs.destinations(s.id)).map((d) => `${d.address}:${d.port}/${d.weight}`).sort().join(',')}`);
  const sets = (await n.ipset.save()).map((s) => `${s.name}: ${[...s.entries].sort().join(' ')}`);
  const addrs = (await n.nl.addresses(4)).map((a) => `${a.dev} ${a.ip}`);
  const routes = (await n.nl.routes(4, { table: 255 })).map((r) => `${r.dst} ${r.src ?? ''}`);
  return [...out.sort(), ...sets.sort(), ...addrs.sort(), ...routes.sort(), await n.ipt.save('filter'), await n.ipt.save('nat')].join('\n');
}

describe('IPVS backend: incremental equals from scratch (property, kernel fakes)', function () {
  this.timeout(120_000);
  it('random sequences of frontend changes through partial syncs leave the kernel as a full sync of the last model does', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(frontendArb, { maxLength: 5 }), { minLength: 1, maxLength: 8 }), async (steps) => {
        const live = node();
        const seen = new Map<string, Frontend>();
        let prev = new Set<string>();
        let first = true;
        for (const drawn of steps) {
          const m = model(drawn, seen);
          await live.backend.sync(m, first ? 'all' : new Set([...prev, ...m.frontends.keys()]), ctx);
          first = false;
          prev = new Set(m.frontends.keys());
          const fresh = node();
          await fresh.backend.sync(m, 'all', ctx);
          assert.equal(await state(live), await state(fresh));
        }
      }),
      { numRuns: 60, seed: 7, endOnFailure: true },
    );
  });
});
