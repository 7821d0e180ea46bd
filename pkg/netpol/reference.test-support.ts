/**
 * NetworkPolicy semantics written straight from the API reference, over the raw objects, as an oracle
 * for the conformance tests. Independent of our parser and compiler on purpose: if both agree on every
 * probe of every scenario, neither has drifted from the spec.
 */
import { cidrContains, tryParseCIDR, tryParseIP, type IP } from '../util/ip.js';

type Json = Record<string, unknown>;

export interface WorldPod {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly ip: string;
  readonly node: string;
  readonly ports: readonly { readonly name: string; readonly port: number; readonly protocol: 'TCP' | 'UDP' | 'SCTP' }[];
}

export interface World {
  readonly namespaces: Map<string, Record<string, string>>;
  readonly pods: Map<string, WorldPod>;
  /** Raw NetworkPolicy objects by namespace/name. */
  readonly policies: Map<string, Json>;
  /** Raw ClusterNetworkPolicy objects by name. */
  readonly clusterPolicies?: Map<string, Json>;
}

const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function selects(sel: unknown, labels: Record<string, string>): boolean {
  const s = obj(sel);
  if (!s) return true;
  for (const [k, v] of Object.entries(obj(s['matchLabels']) ?? {})) if (labels[k] !== v) return false;
  for (const e of arr(s['matchExpressions'])) {
    const x = obj(e) ?? {};
    const key = String(x['key']);
    const values = arr(x['values']).map(String);
    const has = key in labels;
    const ok = x['operator'] === 'In' ? has && values.includes(labels[key] ?? '') : x['operator'] === 'NotIn' ? !has || !values.includes(labels[key] ?? '') : x['operator'] === 'Exists' ? has : !has;
    if (!ok) return false;
  }
  return true;
}

function types(spec: Json): { ingress: boolean; egress: boolean } {
  const t = arr(spec['policyTypes']);
  if (t.length > 0) return { ingress: t.includes('Ingress'), egress: t.includes('Egress') };
  return { ingress: true, egress: arr(spec['egress']).length > 0 };
}

function peerMatches(w: World, policyNs: string, peer: Json, addr: string, pod: WorldPod | undefined): boolean {
  const block = obj(peer['ipBlock']);
  if (block) {
    const ip = tryParseIP(addr) as IP;
    const c = tryParseCIDR(String(block['cidr']));
    if (!c || !cidrContains(c, ip)) return false;
    return !arr(block['except']).some((x) => {
      const e = tryParseCIDR(String(x));
      return e !== undefined && cidrContains(e, ip);
    });
  }
  if (!pod) return false;
  const nsSel = peer['namespaceSelector'];
  if (nsSel === undefined) {
    if (pod.namespace !== policyNs) return false;
  } else if (!selects(nsSel, w.namespaces.get(pod.namespace) ?? {})) return false;
  return selects(peer['podSelector'], pod.labels);
}

function portMatches(rulePorts: unknown[], port: number, protocol: 'TCP' | 'UDP', portsPod: WorldPod | undefined): boolean {
  if (rulePorts.length === 0) return true;
  return rulePorts.some((x) => {
    const p = obj(x) ?? {};
    if ((p['protocol'] ?? 'TCP') !== protocol) return false;
    const v = p['port'];
    if (v === undefined) return true;
    if (typeof v === 'string') return portsPod?.ports.some((cp) => cp.name === v && cp.protocol === protocol && cp.port === port) ?? false;
    const start = Number(v);
    const end = typeof p['endPort'] === 'number' ? p['endPort'] : start;
    return port >= start && port <= end;
  });
}

/** ClusterNetworkPolicy (v1alpha2): whether its subject holds the pod. */
function subjectHolds(w: World, subject: Json, pod: WorldPod): boolean {
  const nsLabels = w.namespaces.get(pod.namespace) ?? {};
  if (subject['namespaces'] !== undefined) return selects(subject['namespaces'], nsLabels);
  const p = obj(subject['pods']) ?? {};
  return selects(p['namespaceSelector'], nsLabels) && selects(p['podSelector'], pod.labels);
}

function cnpPeerMatches(w: World, peer: Json, addr: string, pod: WorldPod | undefined): boolean {
  if (peer['networks'] !== undefined) return arr(peer['networks']).some((n) => {
    const c = tryParseCIDR(String(n));
    return c !== undefined && cidrContains(c, tryParseIP(addr) as IP);
  });
  if (!pod) return false;
  return subjectHolds(w, peer, pod);
}

function cnpPortMatches(protocols: unknown[], port: number, protocol: 'TCP' | 'UDP', portsPod: WorldPod | undefined): boolean {
  if (protocols.length === 0) return true;
  return protocols.some((x) => {
    const p = obj(x) ?? {};
    if (typeof p['destinationNamedPort'] === 'string') return portsPod?.ports.some((cp) => cp.name === p['destinationNamedPort'] && cp.protocol === protocol && cp.port === port) ?? false;
    const mine = obj(p[protocol.toLowerCase()]);
    if (!mine) return false;
    const dp = obj(mine['destinationPort']);
    if (!dp) return true;
    const range = obj(dp['range']);
    if (range) return port >= Number(range['start']) && port <= Number(range['end']);
    return Number(dp['number']) === port;
  });
}

/** The first rule of the tier's policies (by priority, then name; rules in order) that matches: its action. */
function tierDecision(w: World, tier: 'Admin' | 'Baseline', pod: WorldPod, dir: 'ingress' | 'egress', peerAddr: string, peerPod: WorldPod | undefined, port: number, protocol: 'TCP' | 'UDP'): string | undefined {
  const list = [...(w.clusterPolicies ?? new Map<string, Json>())]
    .map(([name, o]) => ({ name, spec: obj(o['spec']) ?? {} }))
    .filter((c) => c.spec['tier'] === tier)
    .sort((a, b) => Number(a.spec['priority']) - Number(b.spec['priority']) || (a.name < b.name ? -1 : 1));
  for (const c of list) {
    if (!subjectHolds(w, obj(c.spec['subject']) ?? {}, pod)) continue;
    for (const r of arr(c.spec[dir])) {
      const rule = obj(r) ?? {};
      if (!cnpPortMatches(arr(rule['protocols']), port, protocol, dir === 'ingress' ? pod : peerPod)) continue;
      if (arr(rule[dir === 'ingress' ? 'from' : 'to']).some((x) => cnpPeerMatches(w, obj(x) ?? {}, peerAddr, peerPod))) return String(rule['action']);
    }
  }
  return undefined;
}

/** Admin tier, then NetworkPolicy (final for the pods it isolates), then Baseline, then allowed. */
function directionAllows(w: World, pod: WorldPod, dir: 'ingress' | 'egress', peerAddr: string, peerPod: WorldPod | undefined, port: number, protocol: 'TCP' | 'UDP'): boolean {
  const admin = tierDecision(w, 'Admin', pod, dir, peerAddr, peerPod, port, protocol);
  if (admin === 'Accept') return true;
  if (admin === 'Deny') return false;
  const np = networkPolicyAllows(w, pod, dir, peerAddr, peerPod, port, protocol);
  if (np !== undefined) return np;
  return tierDecision(w, 'Baseline', pod, dir, peerAddr, peerPod, port, protocol) !== 'Deny';
}

/** NetworkPolicy's verdict for a pod it isolates in this direction; undefined when none does. */
function networkPolicyAllows(w: World, pod: WorldPod, dir: 'ingress' | 'egress', peerAddr: string, peerPod: WorldPod | undefined, port: number, protocol: 'TCP' | 'UDP'): boolean | undefined {
  let isolated = false;
  for (const [key, p] of w.policies) {
    const ns = key.split('/')[0] as string;
    const spec = obj(p['spec']) ?? {};
    if (ns !== pod.namespace || !selects(spec['podSelector'], pod.labels) || !types(spec)[dir]) continue;
    isolated = true;
    for (const r of arr(spec[dir])) {
      const rule = obj(r) ?? {};
      const peers = arr(rule[dir === 'ingress' ? 'from' : 'to']);
      const portsPod = dir === 'ingress' ? pod : peerPod;
      if (!portMatches(arr(rule['ports']), port, protocol, portsPod)) continue;
      if (peers.length === 0 || peers.some((x) => peerMatches(w, ns, obj(x) ?? {}, peerAddr, peerPod))) return true;
    }
  }
  return isolated ? false : undefined;
}

/** Whether a new connection from one pod to another's port is allowed. A pod talking to itself never leaves it. */
export function allowed(w: World, from: WorldPod, to: WorldPod, port: number, protocol: 'TCP' | 'UDP'): boolean {
  if (from === to) return true;
  return directionAllows(w, from, 'egress', to.ip, to, port, protocol) && directionAllows(w, to, 'ingress', from.ip, from, port, protocol);
}
