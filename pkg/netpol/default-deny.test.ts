import assert from 'node:assert/strict';
import { toKubeObject, type KubeObject } from '../k8s/object.js';
import { FakeIpset } from '../linux/ipset/fake.js';
import { FakeIptables } from '../linux/iptables/fake.js';
import type { CIDR } from '../util/ip.js';
import { evaluateFilter, type FilterPacket } from './evaluate.js';
import { IptablesFirewallBackend } from './iptables/backend.js';
import { parsePod } from '../k8s/kinds/pod.js';
import { FirewallTracker } from './model/tracker.js';

const kube = (raw: Record<string, unknown>): KubeObject => toKubeObject(raw) as KubeObject;
const pod = (name: string, ip: string, extra: Record<string, unknown> = {}): KubeObject =>
  kube({ metadata: { namespace: 'x', name, labels: { pod: name } }, spec: { nodeName: 'n1', ...extra }, status: { phase: 'Running', podIPs: [{ ip }] } });

async function node(defaultDeny: boolean): Promise<{ t: FirewallTracker; ipt: FakeIptables; ipset: FakeIpset; sync: () => Promise<void> }> {
  const t = new FirewallTracker('n1', [4], { defaultDeny, serviceClusterIPRanges: ['198.18.128.0/20' as CIDR], sctp: true });
  t.setNode({ name: 'n1', podCIDRs: ['198.18.64.0/24' as CIDR] });
  t.setNamespace('x', { name: 'x', labels: {} });
  const ipt = new FakeIptables(4);
  const ipset = new FakeIpset();
  const b = new IptablesFirewallBackend(4, ipt, ipset);
  const sync = async (): Promise<void> => {
    const { changed } = t.chains();
    await b.sync(t.desired(4) as NonNullable<ReturnType<FirewallTracker['desired']>>, t.sets.takeTouched(), changed, false);
  };
  await sync();
  return { t, ipt, ipset, sync };
}

const LOCAL = ['198.18.0.10', '198.18.64.1'];
const fwd = (src: string, dst: string): FilterPacket => ({ src, dst, protocol: 'tcp', dport: 80, hook: 'FORWARD', localAddresses: LOCAL });

describe('--netpol-default-deny', () => {
  it('an address of this node pod range that is not a programmed pod gets nothing, either way, until its pod is known', async () => {
    const n = await node(true);
    n.t.setPod('x/a', parsePod(pod('a', '198.18.64.5')));
    await n.sync();
    assert.equal(evaluateFilter(n.ipt, n.ipset, fwd('198.18.64.5', '198.18.64.9')).action, 'reject', 'to an unprogrammed pod');
    assert.equal(evaluateFilter(n.ipt, n.ipset, fwd('198.18.64.9', '198.18.64.5')).action, 'reject', 'from an unprogrammed pod');
    assert.equal(evaluateFilter(n.ipt, n.ipset, { ...fwd('198.18.64.9', '198.18.0.10'), hook: 'INPUT' }).action, 'reject', 'from an unprogrammed pod to the node');
    assert.equal(evaluateFilter(n.ipt, n.ipset, { ...fwd('198.18.0.10', '198.18.64.9'), hook: 'OUTPUT' }).action, 'accept', 'the node itself reaches it (probes)');
    assert.equal(evaluateFilter(n.ipt, n.ipset, fwd('198.18.64.5', '198.18.65.9')).action, 'accept', 'another node pod range is not ours to judge');
    assert.equal(evaluateFilter(n.ipt, n.ipset, { ...fwd('198.18.64.9', '198.18.64.5'), state: 'ESTABLISHED' }).action, 'accept', 'replies pass');
    n.t.setPod('x/b', parsePod(pod('b', '198.18.64.9')));
    await n.sync();
    assert.equal(evaluateFilter(n.ipt, n.ipset, fwd('198.18.64.5', '198.18.64.9')).action, 'accept', 'once programmed (no policy selects it) it is open');
  });

  it('without the flag an unknown address is left alone (upstream default), and host-network pods are never policed', async () => {
    const n = await node(false);
    assert.equal(evaluateFilter(n.ipt, n.ipset, fwd('198.18.64.5', '198.18.64.9')).action, 'accept');
    n.t.setPod('x/h', parsePod(pod('h', '198.18.0.10', { hostNetwork: true })));
    n.t.setPolicy('x/deny', { namespace: 'x', name: 'deny', podSelector: { matchLabels: [], matchExpressions: [] }, ingress: [], egress: [] });
    await n.sync();
    assert.equal(evaluateFilter(n.ipt, n.ipset, { ...fwd('198.18.64.5', '198.18.0.10'), hook: 'INPUT' }).action, 'accept', 'to a host-network pod (the node address)');
    assert.ok(!n.ipset.sets.get('KRT-NP-LOCAL-PODS')?.entries.has('198.18.0.10'));
  });
});
