/**
 * Two emulated nodes for the firewall's tests on kernel fakes: the real tracker and backend (iptables
 * or nftables) per node, a world of namespaces, pods and policies changed by steps, and the
 * reachability matrix through the packet evaluators (egress on the source's node, ingress on the
 * target's).
 */
import assert from 'node:assert/strict';
import { toKubeObject, type KubeObject } from '../k8s/object.js';
import { FakeIpset } from '../linux/ipset/fake.js';
import { FakeIptables } from '../linux/iptables/fake.js';
import type { CIDR } from '../util/ip.js';
import { evaluateFilter } from './evaluate.js';
import { IptablesFirewallBackend } from './iptables/backend.js';
import { parsePod } from '../k8s/kinds/pod.js';
import { parseNamespace } from '../k8s/kinds/namespace.js';
import { parsePolicy } from '../k8s/kinds/network-policy.js';
import { parseClusterNetworkPolicy } from '../k8s/kinds/cluster-network-policy.js';
import { compute, FirewallTracker, trackerFor } from './model/tracker.js';
import { FakeNftables } from '../linux/nftables/fake.js';
import { NftFirewallBackend, desiredTable } from './nft/backend.js';
import { evaluateNftFilter } from './nft/evaluate.js';
import { NETPOL_TABLE } from './nft/render.js';
import type { FirewallBackend } from './backend.js';
import type { FilterPacket } from './evaluate.js';
import { isFirewallChain } from './model/names.js';
import type { FirewallOptions } from './model/types.js';
import { NAMESPACES, namespaceObject, POD_NAMES, podObject, podPorts, PROBES, probeKey, type Step } from './conformance.test-support.js';
import type { World, WorldPod } from './reference.test-support.js';

export const OPTS: FirewallOptions = { defaultDeny: false, serviceClusterIPRanges: ['198.18.128.0/20' as CIDR], sctp: true };
export const NODES = [
  { name: 'node-a', ip: '198.18.0.10', cidr: '198.18.64.0/24', gw: '198.18.64.1' },
  { name: 'node-b', ip: '198.18.0.11', cidr: '198.18.65.0/24', gw: '198.18.65.1' },
] as const;

export function kube(raw: Record<string, unknown>): KubeObject {
  const o = toKubeObject(raw);
  if (!o) throw new Error('bad object');
  return o;
}

export type BackendKind = 'iptables' | 'nftables';

/** One emulated node: the real tracker and backend on kernel fakes. */
export class FakeNode {
  readonly ipt = new FakeIptables(4);
  readonly ipset = new FakeIpset();
  readonly nft = new FakeNftables();
  readonly tracker: FirewallTracker;
  readonly backend: FirewallBackend;
  constructor(
    readonly spec: (typeof NODES)[number],
    readonly kind: BackendKind,
  ) {
    this.tracker = new FirewallTracker(spec.name, [4], OPTS);
    this.tracker.setNode({ name: spec.name, podCIDRs: [spec.cidr as CIDR] });
    this.backend = kind === 'iptables' ? new IptablesFirewallBackend(4, this.ipt, this.ipset) : new NftFirewallBackend(4, this.nft);
  }
  verdict(p: FilterPacket): string {
    return (this.kind === 'iptables' ? evaluateFilter(this.ipt, this.ipset, p) : evaluateNftFilter(this.nft, p)).action;
  }
  async sync(full = false): Promise<number> {
    const { changed } = this.tracker.chains();
    const touched = this.tracker.sets.takeTouched();
    const r = await this.backend.sync(this.tracker.desired(4) as NonNullable<ReturnType<FirewallTracker['desired']>>, touched, changed, full);
    return r.writes;
  }
}

export function withStatus(p: WorldPod): Record<string, unknown> {
  return { ...podObject(p), status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }] } };
}

export class FakeCluster {
  readonly world: World = { namespaces: new Map(), pods: new Map(), policies: new Map(), clusterPolicies: new Map() };
  readonly nodes: FakeNode[];
  private nextHost = new Map<string, number>();

  constructor(kind: BackendKind) {
    this.nodes = NODES.map((n) => new FakeNode(n, kind));
    for (const ns of NAMESPACES) this.world.namespaces.set(ns, { ns });
    for (const ns of NAMESPACES) for (const name of POD_NAMES) this.addPod(ns, name, { pod: name });
    for (const n of this.nodes) for (const [ns, labels] of this.world.namespaces) n.tracker.setNamespace(ns, parseNamespace(kube(namespaceObject(ns, labels))));
    this.pushPods();
  }

  private addPod(ns: string, name: string, labels: Record<string, string>): WorldPod {
    const node = NODES[name === 'b' ? 1 : 0];
    const host = (this.nextHost.get(node.name) ?? 10) + 1;
    this.nextHost.set(node.name, host);
    const p: WorldPod = { namespace: ns, name, labels, ip: node.cidr.replace('.0/24', `.${host}`), node: node.name, ports: podPorts(name) };
    this.world.pods.set(`${ns}/${name}`, p);
    return p;
  }

  private pushPods(only?: string): void {
    for (const [k, p] of this.world.pods) if (!only || only === k) for (const n of this.nodes) n.tracker.setPod(k, parsePod(kube(withStatus(p))));
  }

  async step(s: Step): Promise<void> {
    switch (s.kind) {
      case 'apply-policy': {
        const raw = s.policy(this.world);
        const meta = raw['metadata'] as { namespace: string; name: string };
        this.world.policies.set(`${meta.namespace}/${meta.name}`, raw);
        const r = parsePolicy(kube(raw));
        assert.equal(r.kind, 'policy', JSON.stringify(r));
        if (r.kind === 'policy') for (const n of this.nodes) n.tracker.setPolicy(`${meta.namespace}/${meta.name}`, r.policy);
        break;
      }
      case 'delete-policy':
        this.world.policies.delete(`${s.namespace}/${s.name}`);
        for (const n of this.nodes) n.tracker.setPolicy(`${s.namespace}/${s.name}`, undefined);
        break;
      case 'label-pod': {
        const p = this.world.pods.get(s.pod) as WorldPod;
        this.world.pods.set(s.pod, { ...p, labels: s.labels });
        this.pushPods(s.pod);
        break;
      }
      case 'label-namespace':
        this.world.namespaces.set(s.namespace, s.labels);
        for (const n of this.nodes) n.tracker.setNamespace(s.namespace, parseNamespace(kube(namespaceObject(s.namespace, s.labels))));
        break;
      case 'apply-cluster-policy': {
        const raw = s.policy(this.world);
        const name = (raw['metadata'] as { name: string }).name;
        this.world.clusterPolicies?.set(name, raw);
        const r = parseClusterNetworkPolicy(kube(raw));
        assert.equal(r.kind, 'policy', JSON.stringify(r));
        if (r.kind === 'policy') for (const n of this.nodes) n.tracker.setClusterPolicy(name, r.policy);
        break;
      }
      case 'delete-cluster-policy':
        this.world.clusterPolicies?.delete(s.name);
        for (const n of this.nodes) n.tracker.setClusterPolicy(s.name, undefined);
        break;
      case 'recreate-pod': {
        const p = this.world.pods.get(s.pod) as WorldPod;
        for (const n of this.nodes) n.tracker.setPod(s.pod, undefined);
        this.world.pods.delete(s.pod);
        this.addPod(p.namespace, p.name, p.labels);
        this.pushPods(s.pod);
        break;
      }
    }
    for (const n of this.nodes) await n.sync();
  }

  /** Every probe through the emulated kernels: egress on the source's node, ingress on the target's. */
  matrix(): Map<string, boolean> {
    const out = new Map<string, boolean>();
    for (const [fk, from] of this.world.pods) {
      for (const [tk, to] of this.world.pods) {
        for (const p of PROBES) {
          if (from === to) {
            out.set(probeKey(fk, tk, p.port, p.protocol), true);
            continue;
          }
          const pkt = { src: from.ip, dst: to.ip, protocol: p.protocol === 'TCP' ? ('tcp' as const) : ('udp' as const), dport: p.port, hook: 'FORWARD' as const };
          const srcNode = this.nodes.find((n) => n.spec.name === from.node) as FakeNode;
          const dstNode = this.nodes.find((n) => n.spec.name === to.node) as FakeNode;
          let ok = srcNode.verdict({ ...pkt, localAddresses: [srcNode.spec.ip, srcNode.spec.gw] }) === 'accept';
          if (ok && dstNode !== srcNode) ok = dstNode.verdict({ ...pkt, localAddresses: [dstNode.spec.ip, dstNode.spec.gw] }) === 'accept';
          out.set(probeKey(fk, tk, p.port, p.protocol), ok);
        }
      }
    }
    return out;
  }

  /** The kernel state reached incrementally must equal a from-scratch compute of the same world. */
  assertMatchesFreshCompute(): void {
    for (const n of this.nodes) {
      const snapshot = {
        node: { name: n.spec.name, podCIDRs: [n.spec.cidr as CIDR] },
        namespaces: [...this.world.namespaces].map(([name, labels]) => ({ name, labels })),
        pods: [...this.world.pods.values()].map((p) => parsePod(kube(withStatus(p)))).filter((p) => p !== undefined),
        policies: [...this.world.policies.values()].map((raw) => parsePolicy(kube(raw))).flatMap((r) => (r.kind === 'policy' ? [r.policy] : [])),
        clusterPolicies: [...(this.world.clusterPolicies?.values() ?? [])].map((raw) => parseClusterNetworkPolicy(kube(raw))).flatMap((r) => (r.kind === 'policy' ? [r.policy] : [])),
      };
      if (n.kind === 'nftables') {
        const want = desiredTable(trackerFor(snapshot, [4], OPTS).desired(4) as NonNullable<ReturnType<FirewallTracker['desired']>>);
        const t = n.nft.tables.get(`ip ${NETPOL_TABLE}`);
        assert.ok(t, 'our table exists');
        for (const [c, rules] of want.chains) assert.deepEqual(t.chains.get(c)?.rules, [...rules], `${n.spec.name}: chain ${c}`);
        for (const [name, s] of want.sets) assert.deepEqual([...(t.sets.get(name)?.elements ?? [])].sort(), [...s.elements].sort(), `${n.spec.name}: set ${name}`);
        assert.deepEqual([...t.chains.keys()].filter((c) => !['input', 'forward', 'output'].includes(c)).sort(), [...want.chains.keys()].sort(), `${n.spec.name}: no other chains`);
        for (const [name, m] of want.maps) assert.deepEqual([...(t.sets.get(name)?.elements ?? [])].sort(), [...m.elements].map(([k, c]) => `${k} : jump ${c}`).sort(), `${n.spec.name}: map ${name}`);
        assert.deepEqual([...t.sets.keys()].filter((x) => x !== 'canary').sort(), [...want.sets.keys(), ...want.maps.keys()].sort(), `${n.spec.name}: no other sets or maps`);
        continue;
      }
      const m = compute(snapshot, [4], OPTS).get(4);
      assert.ok(m);
      const ours = new Map(n.ipt.chains('filter').filter(isFirewallChain).map((c) => [c, [...(n.ipt.rules('filter', c) ?? [])]]));
      assert.deepEqual(ours, new Map([...m.chains].map(([c, r]) => [c, [...r]])), `${n.spec.name}: chains`);
      const sets = new Map([...n.ipset.sets].map(([name, s]) => [name, [...s.entries].sort()]));
      assert.deepEqual(sets, new Map([...m.sets].map(([name, s]) => [name, [...s.entries]])), `${n.spec.name}: sets`);
    }
  }
}

