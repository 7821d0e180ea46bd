import assert from 'node:assert/strict';
import fc from 'fast-check';
import { throwawayNetns, type ThrowawayNetns } from '../../test/throwaway-netns.js';
import { parseNamespace } from '../k8s/kinds/namespace.js';
import { parsePolicy } from '../k8s/kinds/network-policy.js';
import { parsePod } from '../k8s/kinds/pod.js';
import { toKubeObject, type KubeObject } from '../k8s/object.js';
import { RealIpset } from '../linux/ipset/real.js';
import { RealIptables } from '../linux/iptables/real.js';
import type { CIDR } from '../util/ip.js';
import { IptablesFirewallBackend } from './iptables/backend.js';
import { MAX_RULES_PER_POLICY, policyRuleCount } from './model/chains.js';
import { FirewallTracker } from './model/tracker.js';
import type { FirewallOptions } from './model/types.js';

const kube = (raw: Record<string, unknown>): KubeObject => toKubeObject(raw) as KubeObject;
const opts: FirewallOptions = { defaultDeny: true, serviceClusterIPRanges: ['198.18.128.0/20' as CIDR], sctp: true };
const nasty = fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('constructor', '__proto__', 'a b', '"', '-j ACCEPT', 'web', 'TCP', 'UDP', 'SCTP', 'In', 'NotIn', 'Exists', 'DoesNotExist'));
const labels = fc.dictionary(fc.constantFrom('app', 'team', 'x/y', 'kubernetes.io/metadata.name'), fc.oneof(fc.constantFrom('a', 'b', ''), nasty), { maxKeys: 2 });
const selector = fc.record({ matchLabels: labels, matchExpressions: fc.array(fc.record({ key: fc.constantFrom('app', 'team'), operator: fc.oneof(fc.constantFrom('In', 'NotIn', 'Exists', 'DoesNotExist'), nasty), values: fc.array(fc.oneof(fc.constantFrom('a', 'b'), nasty), { maxLength: 2 }) }), { maxLength: 2 }) });
const cidr = fc.oneof(fc.constantFrom('0.0.0.0/0', '::/0', '198.18.0.0/16', '198.18.64.0/24', '2001:db8::/32', '198.18.64.7/32', 'garbage', '198.18.0.0/33'), fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([a, p]) => `${a}/${p}`));
const peer = fc.oneof(fc.record({ podSelector: selector }), fc.record({ namespaceSelector: selector }), fc.record({ podSelector: selector, namespaceSelector: selector }), fc.record({ ipBlock: fc.record({ cidr, except: fc.array(cidr, { maxLength: 3 }) }) }));
const port = fc.record({ protocol: fc.oneof(fc.constantFrom('TCP', 'UDP', 'SCTP'), nasty), port: fc.oneof(fc.integer({ min: -2, max: 70_000 }), fc.constantFrom('web', 'http-alt', '0', 'x'.repeat(20)), nasty), endPort: fc.option(fc.integer({ min: -2, max: 70_000 }), { nil: undefined }) });
const rules = fc.array(fc.record({ peers: fc.option(fc.array(peer, { maxLength: 4 }), { nil: undefined }), ports: fc.option(fc.array(port, { maxLength: 4 }), { nil: undefined }) }), { maxLength: 3 });
const policyArb = fc.record({ podSelector: selector, types: fc.subarray(['Ingress', 'Egress', 'Sideways']), ingress: fc.option(rules, { nil: undefined }), egress: fc.option(rules, { nil: undefined }) });

describe('firewall: hostile NetworkPolicies never break the iptables or ipset transaction (property, real tools in a netns)', function () {
  this.timeout(300_000);
  let ns: ThrowawayNetns;
  before(async () => {
    ns = await throwawayNetns();
  });
  after(async () => {
    await ns.remove();
  });

  it('whatever the API accepts (and worse), each policy is compiled and applied, or refused on its own', async () => {
    const ipt = { 4: new RealIptables(ns.exec, 4, 'nft'), 6: new RealIptables(ns.exec, 6, 'nft') } as const;
    const ipset = new RealIpset(ns.exec);
    const t = new FirewallTracker('n1', [4, 6], opts);
    t.setNode({ name: 'n1', podCIDRs: ['198.18.64.0/24' as CIDR, '2001:db8:64::/64' as CIDR] });
    for (const n of ['x', 'y']) t.setNamespace(n, parseNamespace(kube({ metadata: { name: n, labels: { ns: n, team: 'a' } } })));
    t.setPod('x/a', parsePod(kube({ metadata: { namespace: 'x', name: 'a', labels: { app: 'a' } }, spec: { nodeName: 'n1', containers: [{ ports: [{ name: 'web', containerPort: 8080 }, { name: 'constructor', containerPort: 1, protocol: 'constructor' }] }] }, status: { phase: 'Running', podIPs: [{ ip: '198.18.64.2' }, { ip: '2001:db8:64::2' }] } })));
    t.setPod('y/b', parsePod(kube({ metadata: { namespace: 'y', name: 'b', labels: { app: 'b', team: 'a' } }, spec: { nodeName: 'n2' }, status: { phase: 'Running', podIPs: [{ ip: '198.18.65.3' }] } })));
    const backends = ([4, 6] as const).map((f) => new IptablesFirewallBackend(f, ipt[f], ipset));
    let n = 0;
    let applied = 0;
    await fc.assert(
      fc.asyncProperty(policyArb, async (d) => {
        const spec: Record<string, unknown> = { podSelector: d.podSelector, policyTypes: d.types };
        if (d.ingress) spec['ingress'] = d.ingress.map((r) => ({ ...(r.peers ? { from: r.peers } : {}), ...(r.ports ? { ports: r.ports } : {}) }));
        if (d.egress) spec['egress'] = d.egress.map((r) => ({ ...(r.peers ? { to: r.peers } : {}), ...(r.ports ? { ports: r.ports } : {}) }));
        const r = parsePolicy(kube({ metadata: { namespace: n % 2 ? 'x' : 'y', name: `p${n++ % 5}` }, spec }));
        if (r.kind !== 'policy') return; // refused with a reason: its last valid version stays
        if (Math.max(policyRuleCount(r.policy, opts, 4), policyRuleCount(r.policy, opts, 6)) > MAX_RULES_PER_POLICY) return;
        t.setPolicy(`${r.policy.namespace}/${r.policy.name}`, r.policy);
        applied++;
        const { changed } = t.chains();
        const touched = t.sets.takeTouched();
        for (const b of backends) await b.sync(t.desired(b.family) as NonNullable<ReturnType<FirewallTracker['desired']>>, touched, changed, false);
      }),
      { numRuns: 150, seed: 31337, endOnFailure: true },
    );
    assert.ok(applied >= 20, `only ${applied} of the generated policies were valid enough to apply`);
    // After all of that, a full resync finds the kernel exactly as rendered: nothing to write.
    const { changed } = t.chains();
    const touched = t.sets.takeTouched();
    let writes = 0;
    for (const b of backends) writes += (await b.sync(t.desired(b.family) as NonNullable<ReturnType<FirewallTracker['desired']>>, touched, changed, true)).writes;
    assert.equal(writes, 0);
  });
});
