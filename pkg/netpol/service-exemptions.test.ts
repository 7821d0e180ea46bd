import assert from 'node:assert/strict';
import { toKubeObject, type KubeObject } from '../k8s/object.js';
import { FakeIpset } from '../linux/ipset/fake.js';
import { FakeIptables } from '../linux/iptables/fake.js';
import { FakeNftables } from '../linux/nftables/fake.js';
import type { CIDR } from '../util/ip.js';
import { evaluateFilter, type FilterPacket } from './evaluate.js';
import { IptablesFirewallBackend } from './iptables/backend.js';
import { NftFirewallBackend } from './nft/backend.js';
import { evaluateNftFilter } from './nft/evaluate.js';
import { parsePod } from '../k8s/kinds/pod.js';
import { parsePolicy } from '../k8s/kinds/network-policy.js';
import { FirewallTracker } from './model/tracker.js';
import type { FirewallBackend } from './backend.js';

const kube = (raw: Record<string, unknown>): KubeObject => toKubeObject(raw) as KubeObject;
const pod = (name: string, ip: string): KubeObject => kube({ metadata: { namespace: 'x', name, labels: { pod: name } }, spec: { nodeName: 'n1' }, status: { phase: 'Running', podIPs: [{ ip }] } });
const LOCAL = ['198.18.0.10', '198.18.64.1'];
const toNode = (dst: string, dport: number, protocol: 'tcp' | 'udp' = 'tcp'): FilterPacket => ({ src: '198.18.64.5', dst, protocol, dport, hook: 'INPUT', localAddresses: LOCAL });

/**
 * A local pod whose egress allows only its service's endpoint: what it sends to a NodePort on this
 * node, an externalIP or a LoadBalancer IP is not refused at the address the proxy answers on (under
 * IPVS that is INPUT); it is judged against the endpoint after the proxy. Other local destinations
 * stay judged at INPUT. Both backends, same answers.
 */
for (const kind of ['iptables', 'nftables'] as const) {
  describe(`firewall: Service addresses exempt in INPUT (${kind} backend)`, () => {
    it('NodePort range on node addresses, externalIPs and LoadBalancer IPs pass INPUT; other node ports and unknown VIPs do not; a Service losing its externalIP loses the exemption', async () => {
      const t = new FirewallTracker('n1', [4], { defaultDeny: false, serviceClusterIPRanges: ['198.18.128.0/20' as CIDR], sctp: true, serviceExemptions: { nodePorts: { min: 30000, max: 32767 } } });
      t.setNode({ name: 'n1', podCIDRs: ['198.18.64.0/24' as CIDR] });
      t.setNamespace('x', { name: 'x', labels: {} });
      t.setPod('x/a', parsePod(pod('a', '198.18.64.5')));
      t.setPod('x/web', parsePod(pod('web', '198.18.64.7')));
      const r = parsePolicy(kube({ metadata: { namespace: 'x', name: 'only-web' }, spec: { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { pod: 'web' } } }], ports: [{ port: 8080 }] }] } }));
      assert.equal(r.kind, 'policy');
      if (r.kind === 'policy') t.setPolicy('x/only-web', r.policy);
      t.setServiceVips('x/web', ['198.18.200.10', '198.18.201.1']);
      const ipt = new FakeIptables(4);
      const ipset = new FakeIpset();
      const nft = new FakeNftables();
      const b: FirewallBackend = kind === 'iptables' ? new IptablesFirewallBackend(4, ipt, ipset) : new NftFirewallBackend(4, nft);
      const sync = async (): Promise<void> => {
        const { changed } = t.chains();
        await b.sync(t.desired(4) as NonNullable<ReturnType<FirewallTracker['desired']>>, t.sets.takeTouched(), changed, false);
      };
      const verdict = (p: FilterPacket): string => (kind === 'iptables' ? evaluateFilter(ipt, ipset, p) : evaluateNftFilter(nft, p)).action;
      await sync();
      assert.equal(verdict(toNode('198.18.0.10', 30080)), 'accept', 'a NodePort on the node address');
      assert.equal(verdict(toNode('198.18.0.10', 32767, 'udp')), 'accept', 'the top of the range, UDP');
      assert.equal(verdict(toNode('198.18.200.10', 80)), 'accept', 'an externalIP');
      assert.equal(verdict(toNode('198.18.201.1', 443)), 'accept', 'a LoadBalancer IP');
      assert.equal(verdict(toNode('198.18.0.10', 22)), 'reject', 'another port of the node is judged by the egress policy');
      assert.equal(verdict(toNode('198.18.202.1', 30080)), 'reject', 'the NodePort range only on the node own addresses');
      // After the proxy, the endpoint decides: the allowed one passes, another does not.
      assert.equal(verdict({ src: '198.18.64.5', dst: '198.18.64.7', protocol: 'tcp', dport: 8080, hook: 'OUTPUT', localAddresses: LOCAL }), 'accept');
      assert.equal(verdict({ src: '198.18.64.5', dst: '198.18.64.9', protocol: 'tcp', dport: 8080, hook: 'OUTPUT', localAddresses: LOCAL }), 'reject');
      t.setServiceVips('x/web', ['198.18.201.1']);
      await sync();
      assert.equal(verdict(toNode('198.18.200.10', 80)), 'reject', 'the externalIP is gone from the Service');
      assert.equal(verdict(toNode('198.18.201.1', 443)), 'accept');
    });
  });
}
