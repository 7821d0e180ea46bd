import assert from 'node:assert/strict';
import { throwawayNetns, type ThrowawayNetns } from '../../../test/throwaway-netns.js';
import { toKubeObject, type KubeObject } from '../../k8s/object.js';
import { cleanupIpsets, cleanupIptables } from '../../linux/cleanup.js';
import { RealIpset } from '../../linux/ipset/real.js';
import { RealIptables } from '../../linux/iptables/real.js';
import type { IptablesVariant } from '../../linux/iptables/types.js';
import type { CIDR, Family } from '../../util/ip.js';
import { isFirewallChain, isFirewallSet } from '../model/names.js';
import { parsePod } from '../../k8s/kinds/pod.js';
import { parseNamespace } from '../../k8s/kinds/namespace.js';
import { parsePolicy } from '../../k8s/kinds/network-policy.js';
import { parseClusterNetworkPolicy } from '../../k8s/kinds/cluster-network-policy.js';
import { FirewallTracker } from '../model/tracker.js';
import { IptablesFirewallBackend, jumpRule } from './backend.js';

const kube = (raw: Record<string, unknown>): KubeObject => toKubeObject(raw) as KubeObject;
const pod = (ns: string, name: string, ips: string[], labels: Record<string, string>, node = 'n1'): KubeObject =>
  kube({ metadata: { namespace: ns, name, labels }, spec: { nodeName: node, containers: [{ ports: [{ name: 'web', containerPort: 8080 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }] }] }, status: { phase: 'Running', podIPs: ips.map((ip) => ({ ip })) } });
const policy = (ns: string, name: string, spec: Record<string, unknown>): KubeObject => kube({ metadata: { namespace: ns, name }, spec });
const CLUSTER_POLICIES = [
  { metadata: { name: 'admin' }, spec: { tier: 'Admin', priority: 3, subject: { namespaces: { matchLabels: { ns: 'x' } } }, ingress: [{ action: 'Deny', from: [{ namespaces: { matchLabels: { ns: 'y' } } }], protocols: [{ tcp: { destinationPort: { range: { start: 8000, end: 8100 } } } }, { destinationNamedPort: 'web' }] }, { action: 'Pass', from: [{ pods: { namespaceSelector: {}, podSelector: { matchLabels: { pod: 'a' } } } }] }], egress: [{ action: 'Accept', to: [{ networks: ['198.18.9.0/24', '2001:db8:9::/48'] }, { namespaces: {} }], protocols: [{ udp: { destinationPort: { number: 53 } } }] }] } },
  { metadata: { name: 'baseline' }, spec: { tier: 'Baseline', priority: 1, subject: { pods: { namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } } }, ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }] } },
];

const FOREIGN_IPT = (family: Family): string =>
  ['*filter', ':FOREIGN - [0:0]', `-A FOREIGN -s ${family === 4 ? '198.18.9.0/24' : '2001:db8:9::/64'} -j DROP`, '-A FORWARD -j FOREIGN', '-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT', 'COMMIT', ''].join('\n');

function foreignPart(save: string): string {
  return save
    .split('\n')
    .filter((l) => !l.startsWith('#') && !/KUBE-|KRT-/.test(l))
    .map((l) => l.replace(/\[\d+:\d+\]/, ''))
    .join('\n');
}

for (const variant of ['legacy', 'nft'] as IptablesVariant[]) {
  describe(`firewall backend on real iptables-${variant} and ipset in a netns`, function () {
    this.timeout(60_000);
    let ns: ThrowawayNetns;
    before(async () => {
      ns = await throwawayNetns();
    });
    after(async () => {
      await ns.remove();
    });

    it('writes exactly the model, leaves foreign rules and sets alone, resyncs with zero writes, repairs tampering, cleans up only ours', async () => {
      const ipset = new RealIpset(ns.exec);
      const ipt = { 4: new RealIptables(ns.exec, 4, variant), 6: new RealIptables(ns.exec, 6, variant) } as const;
      for (const f of [4, 6] as const) await ipt[f].restore(FOREIGN_IPT(f));
      await ipset.restore('create foreign-set hash:ip family inet\nadd foreign-set 198.18.9.9\n');
      const before = { 4: foreignPart(await ipt[4].save('filter')), 6: foreignPart(await ipt[6].save('filter')) };

      const t = new FirewallTracker('n1', [4, 6], { defaultDeny: true, serviceClusterIPRanges: ['198.18.128.0/20' as CIDR], sctp: true });
      t.setNode({ name: 'n1', podCIDRs: ['198.18.64.0/24' as CIDR, '2001:db8:64::/64' as CIDR] });
      for (const n of ['x', 'y']) t.setNamespace(n, parseNamespace(kube({ metadata: { name: n, labels: { ns: n } } })));
      t.setPod('x/a', parsePod(pod('x', 'a', ['198.18.64.11', '2001:db8:64::11'], { pod: 'a' })));
      t.setPod('x/b', parsePod(pod('x', 'b', ['198.18.64.12', '2001:db8:64::12'], { pod: 'b' })));
      t.setPod('y/a', parsePod(pod('y', 'a', ['198.18.65.11', '2001:db8:65::11'], { pod: 'a' }, 'n2')));
      const policies = [
        policy('x', 'p1', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }, { podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b'] }] } }], ports: [{ port: 'web' }, { protocol: 'UDP', port: 53 }, { port: 9000, endPort: 9100 }, { protocol: 'SCTP', port: 7 }] }] }),
        policy('x', 'p2', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['198.18.9.0/24'] } }, { ipBlock: { cidr: '2001:db8::/32', except: ['2001:db8:9::/48'] } }] }, { ports: [{ port: 'dns', protocol: 'UDP' }] }] }),
      ];
      for (const p of policies) {
        const r = parsePolicy(p);
        assert.equal(r.kind, 'policy');
        if (r.kind === 'policy') t.setPolicy(`x/${p.metadata.name}`, r.policy);
      }
      // Cluster policies in both tiers: guards, ranges, named ports, networks, both directions.
      for (const raw of CLUSTER_POLICIES) {
      const c = parseClusterNetworkPolicy(kube(raw));
      assert.equal(c.kind, 'policy', JSON.stringify(c));
      if (c.kind === 'policy') t.setClusterPolicy(c.policy.name, c.policy);
      }
      const backends = ([4, 6] as const).map((f) => new IptablesFirewallBackend(f, ipt[f], ipset));
      const sync = async (full: boolean): Promise<number> => {
        const { changed } = t.chains();
        const touched = t.sets.takeTouched();
        let w = 0;
        for (const b of backends) w += (await b.sync(t.desired(b.family) as NonNullable<ReturnType<FirewallTracker['desired']>>, touched, changed, full)).writes;
        return w;
      };
      const assertKernelIsModel = async (): Promise<void> => {
        const m = t.model();
        const sets = await ipset.save();
        for (const f of [4, 6] as const) {
          const save = await ipt[f].save('filter');
          const chains = new Map<string, string[]>();
          for (const l of save.split('\n')) {
            if (l.startsWith(':') && isFirewallChain(l.slice(1).split(' ')[0] ?? '')) chains.set(l.slice(1).split(' ')[0] ?? '', []);
            const mm = /^-A (\S+) (.*)$/.exec(l);
            if (mm) chains.get(mm[1] as string)?.push(mm[2] as string);
          }
          const model = m.get(f);
          assert.ok(model);
          // Byte for byte: what we render is iptables-save's canonical form, on both variants.
          assert.deepEqual(chains, new Map([...model.chains].map(([c, r]) => [c, [...r]])));
          for (const b of ['INPUT', 'FORWARD', 'OUTPUT'] as const) assert.ok(save.includes(`-A ${b} ${jumpRule(b)}\n`), `${b} jumps to ours`);
          const ours = new Map(sets.filter((s) => s.family === f && isFirewallSet(s.name)).map((s) => [s.name, [...s.entries].sort()]));
          assert.deepEqual(ours, new Map([...model.sets].map(([n, s]) => [n, [...s.entries]])));
        }
      };

      assert.ok((await sync(true)) > 0);
      await assertKernelIsModel();
      assert.equal(await sync(true), 0, 'a full resync of an unchanged model writes nothing');

      // A pod change: only set members move, and a resync after it is again a no-op.
      t.setPod('x/b', parsePod(pod('x', 'b', ['198.18.64.13', '2001:db8:64::13'], { pod: 'b' })));
      const w = await sync(false);
      assert.ok(w > 0 && w <= 40, `a pod IP change (in 8 sets per family: policies and cluster policies select it) wrote ${w} lines`);
      await assertKernelIsModel();
      assert.equal(await sync(true), 0);

      // Tampering: a flushed chain, a lost set member, a foreign rule pushed above our jump.
      await ns.exec.run([`iptables-${variant}`, '-F', 'KUBE-NWPLCY-INGRESS']);
      await ns.exec.run(['ipset', 'del', 'KRT-NP-LOCAL-PODS', '198.18.64.11']);
      await ns.exec.run([`iptables-${variant}`, '-I', 'INPUT', '1', '-p', 'udp', '--dport', '9', '-j', 'ACCEPT']);
      assert.ok((await sync(true)) > 0);
      await assertKernelIsModel();
      const input = (await ipt[4].save('filter')).split('\n').filter((l) => l.startsWith('-A INPUT '));
      assert.equal(input[0], `-A INPUT ${jumpRule('INPUT')}`);
      await ns.exec.run([`iptables-${variant}`, '-D', 'INPUT', '-p', 'udp', '--dport', '9', '-j', 'ACCEPT']);
      assert.equal(await sync(true), 0);

      // A policy removed: its chains and sets go, nothing foreign does.
      t.setPolicy('x/p1', undefined);
      assert.ok((await sync(false)) > 0);
      await assertKernelIsModel();
      assert.equal(foreignPart(await ipt[4].save('filter')), before[4]);
      assert.equal(foreignPart(await ipt[6].save('filter')), before[6]);

      await cleanupIptables(ipt[4]);
      await cleanupIptables(ipt[6]);
      await cleanupIpsets(ipset);
      assert.equal(foreignPart(await ipt[4].save('filter')), before[4]);
      assert.equal(foreignPart(await ipt[6].save('filter')), before[6]);
      assert.ok(!(await ipt[4].save('filter')).includes('KUBE-'));
      const left = await ipset.save();
      assert.deepEqual(left.map((s) => s.name), ['foreign-set']);
      assert.deepEqual(left[0]?.entries, ['198.18.9.9']);
    });
  });
}
