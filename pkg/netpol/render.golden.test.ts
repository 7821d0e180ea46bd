import { golden } from '../../test/golden.js';
import { toKubeObject, type KubeObject } from '../k8s/object.js';
import { parsePolicy } from '../k8s/kinds/network-policy.js';
import { parsePod } from '../k8s/kinds/pod.js';
import { FakeIpset } from '../linux/ipset/fake.js';
import { FakeIptables } from '../linux/iptables/fake.js';
import type { CIDR } from '../util/ip.js';
import { IptablesFirewallBackend } from './iptables/backend.js';
import { FirewallTracker } from './model/tracker.js';

const kube = (raw: Record<string, unknown>): KubeObject => toKubeObject(raw) as KubeObject;

/** One node with pods in two namespaces and one policy of each common shape, compiled and applied to the fakes. */
async function rendered(family: 4 | 6): Promise<{ filter: string; sets: string }> {
  const t = new FirewallTracker('n1', [family], { defaultDeny: false, serviceClusterIPRanges: ['198.18.128.0/20' as CIDR, '2001:db8:128::/112' as CIDR], sctp: true });
  t.setNode({ name: 'n1', podCIDRs: ['198.18.64.0/24' as CIDR, '2001:db8:64::/64' as CIDR] });
  for (const n of ['x', 'y']) t.setNamespace(n, { name: n, labels: { ns: n } });
  const pods: [string, string, string, string, string][] = [
    ['x', 'a', '198.18.64.2', '2001:db8:64::2', 'n1'],
    ['x', 'b', '198.18.64.3', '2001:db8:64::3', 'n1'],
    ['y', 'c', '198.18.65.4', '2001:db8:65::4', 'n2'],
  ];
  for (const [ns, name, v4, v6, node] of pods) {
    t.setPod(`${ns}/${name}`, parsePod(kube({ metadata: { namespace: ns, name, labels: { pod: name } }, spec: { nodeName: node, containers: [{ ports: [{ name: 'web', containerPort: 8080 }] }] }, status: { phase: 'Running', podIPs: [{ ip: v4 }, { ip: v6 }] } })));
  }
  const policies = [
    { metadata: { namespace: 'x', name: 'deny-all' }, spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] } },
    { metadata: { namespace: 'x', name: 'from-y' }, spec: { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['c'] }] } }], ports: [{ port: 80 }, { port: 'web' }, { protocol: 'UDP', port: 5000, endPort: 5010 }] }] } },
    { metadata: { namespace: 'x', name: 'blocks' }, spec: { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ ipBlock: { cidr: '198.18.0.0/16', except: ['198.18.9.0/24'] } }, { ipBlock: { cidr: '2001:db8::/32', except: ['2001:db8:9::/48'] } }] }] } },
    { metadata: { namespace: 'x', name: 'union' }, spec: { podSelector: { matchLabels: { pod: 'b' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'a' } } }, { namespaceSelector: { matchLabels: { ns: 'y' } } }, { ipBlock: { cidr: '198.18.200.0/24' } }, { ipBlock: { cidr: '2001:db8:200::/64' } }], ports: [{ port: 80 }, { port: 443 }, { protocol: 'UDP', port: 53 }] }] } },
    { metadata: { namespace: 'x', name: 'egress-dns' }, spec: { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'SCTP', port: 3868 }] }, { to: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] } },
  ];
  for (const p of policies) {
    const r = parsePolicy(kube(p));
    if (r.kind === 'policy') t.setPolicy(`${p.metadata.namespace}/${p.metadata.name}`, r.policy);
  }
  const ipt = new FakeIptables(family);
  const ipset = new FakeIpset();
  const { changed } = t.chains();
  await new IptablesFirewallBackend(family, ipt, ipset).sync(t.desired(family) as NonNullable<ReturnType<FirewallTracker['desired']>>, t.sets.takeTouched(), changed, true);
  const sets = [...ipset.sets.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, s]) => `${name} ${s.type}${s.type === 'list:set' ? '' : ` inet${s.family === 6 ? '6' : ''}`}: ${[...s.entries].sort().join(' ')}`);
  return { filter: await ipt.save('filter'), sets: sets.join('\n') + '\n' };
}

describe('firewall renders (golden)', () => {
  for (const f of [4, 6] as const) {
    it(`IPv${f}: our chains in iptables-save form and our ipsets`, async () => {
      const r = await rendered(f);
      golden(`netpol/filter-v${f}.rules`, r.filter);
      golden(`netpol/ipsets-v${f}.txt`, r.sets);
    });
  }
});
