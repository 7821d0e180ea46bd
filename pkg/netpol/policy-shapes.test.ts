import assert from 'node:assert/strict';
import { toKubeObject, type KubeObject } from '../k8s/object.js';
import { FakeIpset } from '../linux/ipset/fake.js';
import { FakeIptables } from '../linux/iptables/fake.js';
import type { CIDR, Family } from '../util/ip.js';
import { evaluateFilter, type FilterPacket, type FilterVerdict } from './evaluate.js';
import { IptablesFirewallBackend } from './iptables/backend.js';
import { parsePod } from '../k8s/kinds/pod.js';
import { parsePolicy } from '../k8s/kinds/network-policy.js';
import { FirewallTracker } from './model/tracker.js';

const kube = (raw: Record<string, unknown>): KubeObject => toKubeObject(raw) as KubeObject;
const pod = (ns: string, name: string, ips: string[], ports: unknown[] = []): KubeObject =>
  kube({ metadata: { namespace: ns, name, labels: { pod: name } }, spec: { nodeName: 'n1', containers: [{ ports }] }, status: { phase: 'Running', podIPs: ips.map((ip) => ({ ip })) } });
const np = (ns: string, name: string, spec: Record<string, unknown>): KubeObject => kube({ metadata: { namespace: ns, name }, spec });

/** One dual-stack node with pods x/a, x/b, y/c, the real tracker and backend on fakes. */
async function cluster(policies: KubeObject[]): Promise<{ verdict: (p: Omit<FilterPacket, 'hook'>) => string; full: (p: Omit<FilterPacket, 'hook'>) => FilterVerdict; t: FirewallTracker }> {
  const t = new FirewallTracker('n1', [4, 6], { defaultDeny: false, serviceClusterIPRanges: ['198.18.128.0/20' as CIDR], sctp: true });
  t.setNode({ name: 'n1', podCIDRs: ['198.18.64.0/24' as CIDR, '2001:db8:64::/64' as CIDR] });
  for (const n of ['x', 'y']) t.setNamespace(n, { name: n, labels: { ns: n } });
  t.setPod('x/a', parsePod(pod('x', 'a', ['198.18.64.2', '2001:db8:64::2'], [{ name: 'assoc', containerPort: 3868, protocol: 'SCTP' }])));
  t.setPod('x/b', parsePod(pod('x', 'b', ['198.18.64.3', '2001:db8:64::3'])));
  t.setPod('y/c', parsePod(pod('y', 'c', ['198.18.64.4', '2001:db8:64::4'])));
  for (const p of policies) {
    const r = parsePolicy(p);
    if (r.kind === 'policy') t.setPolicy(`${p.metadata.namespace ?? ''}/${p.metadata.name}`, r.policy);
  }
  const fakes = new Map<Family, { ipt: FakeIptables; ipset: FakeIpset }>();
  const ipset = new FakeIpset();
  const { changed } = t.chains();
  const touched = t.sets.takeTouched();
  for (const f of [4, 6] as const) {
    const ipt = new FakeIptables(f);
    await new IptablesFirewallBackend(f, ipt, ipset).sync(t.desired(f) as NonNullable<ReturnType<FirewallTracker['desired']>>, touched, changed, false);
    fakes.set(f, { ipt, ipset });
  }
  const full = (p: Omit<FilterPacket, 'hook'>): FilterVerdict => {
    const k = fakes.get(p.src.includes(':') ? 6 : 4) as { ipt: FakeIptables; ipset: FakeIpset };
    return evaluateFilter(k.ipt, k.ipset, { ...p, hook: 'FORWARD', localAddresses: ['198.18.0.10', '198.18.64.1', '2001:db8:64::1'] });
  };
  return { t, full, verdict: (p) => full(p).action };
}

describe('firewall policy shapes beyond the conformance matrix', () => {
  it('SCTP ports, numeric and named (the kernel here has no SCTP sockets, so the evaluator proves it)', async () => {
    const c = await cluster([np('x', 'sctp', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ protocol: 'SCTP', port: 'assoc' }, { protocol: 'SCTP', port: 9000 }] }] })]);
    assert.equal(c.verdict({ src: '198.18.64.4', dst: '198.18.64.2', protocol: 'sctp', dport: 3868 }), 'accept');
    assert.equal(c.verdict({ src: '198.18.64.4', dst: '198.18.64.2', protocol: 'sctp', dport: 9000 }), 'accept');
    assert.equal(c.verdict({ src: '198.18.64.4', dst: '198.18.64.2', protocol: 'sctp', dport: 9001 }), 'reject');
    assert.equal(c.verdict({ src: '198.18.64.4', dst: '198.18.64.2', protocol: 'tcp', dport: 3868 }), 'reject', 'the name is SCTP only');
    assert.equal(c.verdict({ src: '2001:db8:64::4', dst: '2001:db8:64::2', protocol: 'sctp', dport: 3868 }), 'accept', 'IPv6 too');
  });

  it('IPv6: pod selectors match both families, an ipBlock only its own, /0 included', async () => {
    const c = await cluster([
      np('x', 'in', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }, { from: [{ ipBlock: { cidr: '::/0', except: ['2001:db8:64::3/128'] } }], ports: [{ port: 81 }] }] }),
      np('x', 'out', { podSelector: { matchLabels: { pod: 'b' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '198.18.64.0/24' } }] }] }),
    ]);
    assert.equal(c.verdict({ src: '2001:db8:64::4', dst: '2001:db8:64::2', protocol: 'tcp', dport: 80 }), 'accept', 'y/c over IPv6');
    assert.equal(c.verdict({ src: '198.18.64.4', dst: '198.18.64.2', protocol: 'tcp', dport: 80 }), 'accept', 'y/c over IPv4');
    assert.equal(c.verdict({ src: '2001:db8:64::3', dst: '2001:db8:64::2', protocol: 'tcp', dport: 80 }), 'reject');
    assert.equal(c.verdict({ src: '2001:db8:99::9', dst: '2001:db8:64::2', protocol: 'tcp', dport: 81 }), 'accept', '::/0 on port 81');
    assert.equal(c.verdict({ src: '2001:db8:64::3', dst: '2001:db8:64::2', protocol: 'tcp', dport: 81 }), 'reject', 'except');
    assert.equal(c.verdict({ src: '198.18.99.9', dst: '198.18.64.2', protocol: 'tcp', dport: 81 }), 'reject', 'an IPv6 block allows no IPv4');
    assert.equal(c.verdict({ src: '198.18.64.3', dst: '198.18.64.4', protocol: 'udp', dport: 53 }), 'accept', 'x/b egress within the IPv4 block');
    assert.equal(c.verdict({ src: '2001:db8:64::3', dst: '2001:db8:64::4', protocol: 'udp', dport: 53 }), 'reject', 'x/b has no IPv6 egress');
    assert.equal(c.verdict({ src: '2001:db8:64::3', dst: '2001:db8:64::4', protocol: 'icmp', icmpType: 135 }), 'accept', 'neighbour discovery always passes');
  });

  it('fails closed: a broken peer or port allows nothing (never everything); a broken selector or policyTypes rejects the policy', () => {
    const r = parsePolicy(np('x', 'p', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: 'not-a-cidr' } }] }, { ports: [{ protocol: 'ICMP', port: 1 }] }, { from: [{ ipBlock: { cidr: '198.18.0.0/16', except: ['198.19.0.0/24'] } }] }] }));
    assert.equal(r.kind, 'policy');
    if (r.kind !== 'policy') return;
    assert.equal(r.problems.length, 3, r.problems.join('\n'));
    assert.deepEqual(r.policy.ingress?.map((x) => [x.peers === 'all' ? 'all' : x.peers.length, x.ports === 'all' ? 'all' : x.ports.length]), [[0, 'all'], ['all', 0], [0, 'all']]);
    assert.equal(parsePolicy(np('x', 'p', { podSelector: { matchExpressions: [{ key: 'a', operator: 'Near' }] } })).kind, 'rejected');
    assert.equal(parsePolicy(np('x', 'p', { podSelector: {}, policyTypes: ['Sideways'] })).kind, 'rejected');
    assert.equal(parsePolicy(np('x', 'p', { podSelector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] } })).kind, 'rejected');
    const ok = parsePolicy(np('x', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 80, endPort: 79 }, { port: 'http', endPort: 90 }, { port: 70000 }] }] }));
    assert.ok(ok.kind === 'policy' && ok.problems.length === 3);
  });

  it('a rule whose peers were all invalid denies, where an absent peer list would allow', async () => {
    const c = await cluster([np('x', 'bad', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ ipBlock: { cidr: 'nope' } }] }] })]);
    assert.equal(c.verdict({ src: '198.18.64.4', dst: '198.18.64.2', protocol: 'tcp', dport: 80 }), 'reject');
  });

  it('denied packets are logged to NFLOG (rate-limited), allowed ones are not', async () => {
    const c = await cluster([np('x', 'deny', { podSelector: {}, policyTypes: ['Ingress'] })]);
    const denied = c.full({ src: '198.18.64.4', dst: '198.18.64.2', protocol: 'tcp', dport: 80 });
    assert.equal(denied.action, 'reject');
    assert.equal(denied.logged, true);
    assert.ok(denied.matched.some((m) => /-m limit --limit 10\/min --limit-burst 10 -j NFLOG .*--nflog-group 100/.test(m)), denied.matched.join('\n'));
    const allowed = c.full({ src: '198.18.64.4', dst: '198.18.64.9', protocol: 'tcp', dport: 80 });
    assert.equal(allowed.action, 'accept');
    assert.equal(allowed.logged, false);
  });
});
