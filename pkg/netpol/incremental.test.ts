import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseNamespace } from '../k8s/kinds/namespace.js';
import { parsePolicy } from '../k8s/kinds/network-policy.js';
import { parsePod } from '../k8s/kinds/pod.js';
import { toKubeObject, type KubeObject } from '../k8s/object.js';
import { FakeIpset } from '../linux/ipset/fake.js';
import { FakeIptables } from '../linux/iptables/fake.js';
import { parseSave } from '../linux/iptables/save.js';
import type { CIDR, Family } from '../util/ip.js';
import { IptablesFirewallBackend } from './iptables/backend.js';
import { isFirewallChain } from './model/names.js';
import { FirewallTracker } from './model/tracker.js';
import type { FirewallOptions } from './model/types.js';

const kube = (raw: Record<string, unknown>): KubeObject => toKubeObject(raw) as KubeObject;
const opts: FirewallOptions = { defaultDeny: false, serviceClusterIPRanges: ['198.18.128.0/20' as CIDR], sctp: true };
const NODE = { name: 'n1', podCIDRs: ['198.18.64.0/24' as CIDR, '2001:db8:64::/64' as CIDR] };

const label = fc.constantFrom('a', 'b', 'c');
const podArb = fc.record({ ns: fc.constantFrom('x', 'y'), name: fc.constantFrom('p1', 'p2', 'p3', 'p4'), app: label, ip: fc.integer({ min: 2, max: 9 }), node: fc.constantFrom('n1', 'n2'), named: fc.boolean() });
const peerArb = fc.oneof(
  fc.record({ podSelector: fc.record({ matchLabels: fc.record({ app: label }) }) }),
  fc.record({ namespaceSelector: fc.record({ matchLabels: fc.record({ ns: fc.constantFrom('x', 'y') }) }) }),
  fc.constant({ ipBlock: { cidr: '198.18.64.0/28', except: ['198.18.64.4/30'] } }),
  fc.constant({ ipBlock: { cidr: '2001:db8:64::/120' } }),
);
const portArb = fc.oneof(fc.record({ port: fc.constantFrom(80, 81) }), fc.constant({ port: 'web' }), fc.constant({ protocol: 'UDP', port: 53, endPort: 60 }));
const policyArb = fc.record({
  ns: fc.constantFrom('x', 'y'),
  name: fc.constantFrom('q1', 'q2', 'q3'),
  target: fc.option(label, { nil: undefined }),
  ingress: fc.option(fc.array(fc.record({ from: fc.array(peerArb, { maxLength: 3 }), ports: fc.array(portArb, { maxLength: 2 }) }), { maxLength: 2 }), { nil: undefined }),
  egress: fc.option(fc.array(fc.record({ to: fc.array(peerArb, { maxLength: 3 }), ports: fc.array(portArb, { maxLength: 2 }) }), { maxLength: 2 }), { nil: undefined }),
});
const eventArb = fc.oneof(
  podArb.map((p) => ({ kind: 'pod' as const, p })),
  fc.record({ ns: fc.constantFrom('x', 'y'), name: fc.constantFrom('p1', 'p2', 'p3', 'p4') }).map((d) => ({ kind: 'pod-gone' as const, d })),
  policyArb.map((p) => ({ kind: 'policy' as const, p })),
  fc.record({ ns: fc.constantFrom('x', 'y'), name: fc.constantFrom('q1', 'q2', 'q3') }).map((d) => ({ kind: 'policy-gone' as const, d })),
  fc.record({ ns: fc.constantFrom('x', 'y'), team: label }).map((n) => ({ kind: 'namespace' as const, n })),
);
type Event = typeof eventArb extends fc.Arbitrary<infer T> ? T : never;

function apply(t: FirewallTracker, e: Event): void {
  switch (e.kind) {
    case 'pod': {
      const p = e.p;
      t.setPod(`${p.ns}/${p.name}`, parsePod(kube({ metadata: { namespace: p.ns, name: p.name, labels: { app: p.app } }, spec: { nodeName: p.node, containers: [{ ports: p.named ? [{ name: 'web', containerPort: 8080 }] : [] }] }, status: { phase: 'Running', podIPs: [{ ip: `198.18.${p.node === 'n1' ? 64 : 65}.${p.ip}` }, { ip: `2001:db8:${p.node === 'n1' ? 64 : 65}::${p.ip}` }] } })));
      return;
    }
    case 'pod-gone':
      t.setPod(`${e.d.ns}/${e.d.name}`, undefined);
      return;
    case 'policy': {
      const p = e.p;
      const spec: Record<string, unknown> = { podSelector: p.target ? { matchLabels: { app: p.target } } : {}, policyTypes: [...(p.ingress ? ['Ingress'] : []), ...(p.egress ? ['Egress'] : [])] };
      if (p.ingress) spec['ingress'] = p.ingress;
      if (p.egress) spec['egress'] = p.egress;
      if (!p.ingress && !p.egress) spec['policyTypes'] = ['Ingress'];
      const r = parsePolicy(kube({ metadata: { namespace: p.ns, name: p.name }, spec }));
      if (r.kind === 'policy') t.setPolicy(`${p.ns}/${p.name}`, r.policy);
      return;
    }
    case 'policy-gone':
      t.setPolicy(`${e.d.ns}/${e.d.name}`, undefined);
      return;
    case 'namespace':
      t.setNamespace(e.n.ns, parseNamespace(kube({ metadata: { name: e.n.ns, labels: { ns: e.n.ns, team: e.n.team } } })));
      return;
  }
}

interface Kernel {
  readonly ipt: Record<Family, FakeIptables>;
  readonly ipset: FakeIpset;
  readonly backends: IptablesFirewallBackend[];
}
function kernel(): Kernel {
  const ipset = new FakeIpset();
  const ipt = { 4: new FakeIptables(4), 6: new FakeIptables(6) };
  return { ipt, ipset, backends: ([4, 6] as const).map((f) => new IptablesFirewallBackend(f, ipt[f], ipset)) };
}
async function sync(t: FirewallTracker, k: Kernel, full: boolean): Promise<void> {
  const { changed } = t.chains();
  const touched = t.sets.takeTouched();
  for (const b of k.backends) await b.sync(t.desired(b.family) as NonNullable<ReturnType<FirewallTracker['desired']>>, touched, changed, full);
}
async function state(k: Kernel): Promise<string> {
  const chains: string[] = [];
  for (const f of [4, 6] as const) for (const [name, rules] of parseSave(await k.ipt[f].save('filter')).chains) chains.push(`${f} ${name}: ${isFirewallChain(name) || ['INPUT', 'FORWARD', 'OUTPUT'].includes(name) ? rules.join(' | ') : ''}`);
  const sets = (await k.ipset.save()).map((s) => `${s.name} ${s.type}: ${[...s.entries].sort().join(' ')}`);
  return [...chains.sort(), ...sets.sort()].join('\n');
}

describe('firewall: incremental equals from scratch (property, kernel fakes)', function () {
  this.timeout(120_000);
  it('random sequences of pod, namespace and policy events: after every partial sync the kernel equals a from-scratch sync of the same objects', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(eventArb, { minLength: 1, maxLength: 25 }), async (events) => {
        const live = new FirewallTracker('n1', [4, 6], opts);
        live.setNode(NODE);
        for (const n of ['x', 'y']) live.setNamespace(n, parseNamespace(kube({ metadata: { name: n, labels: { ns: n } } })));
        const k = kernel();
        await sync(live, k, true);
        const seen: Event[] = [];
        for (const e of events) {
          apply(live, e);
          seen.push(e);
          await sync(live, k, false);
          const fresh = new FirewallTracker('n1', [4, 6], opts);
          fresh.setNode(NODE);
          for (const n of ['x', 'y']) fresh.setNamespace(n, parseNamespace(kube({ metadata: { name: n, labels: { ns: n } } })));
          for (const s of seen) apply(fresh, s);
          const k2 = kernel();
          await sync(fresh, k2, true);
          assert.equal(await state(k), await state(k2));
        }
        // And a periodic full resync of the live kernel writes nothing.
        const before = k.ipset.restores.length + k.ipt[4].restores.length + k.ipt[6].restores.length;
        await sync(live, k, true);
        assert.equal(k.ipset.restores.length + k.ipt[4].restores.length + k.ipt[6].restores.length, before, 'a resync of an unchanged model writes nothing');
      }),
      { numRuns: 60, seed: 1337, endOnFailure: true },
    );
  });
});
