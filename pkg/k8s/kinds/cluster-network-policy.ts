import type { KubeObject } from '../object.js';
import { tryParseCIDR } from '../../util/ip.js';
import { asArray, asRecord, asString } from '../../util/json.js';
import { EVERYTHING, parseSelector, type LabelSelector } from './label-selector.js';
import type { PodSelection, PolicyPeer, PolicyPort } from './network-policy.js';

/**
 * ClusterNetworkPolicy, `policy.networking.k8s.io/v1alpha2` (network-policy-api v0.2.0): cluster-wide
 * policies in two tiers around NetworkPolicy. Admin is judged before NetworkPolicy, Baseline after it
 * (for pods no NetworkPolicy isolates); within a tier lower priority first, within a policy its rules
 * in order; the first rule that matches decides: Accept (allowed, nothing after it is asked), Deny
 * (refused), Pass (the rest of this tier is skipped: NetworkPolicy next after Admin, the default
 * "allowed" after Baseline).
 */
export type CnpTier = 'Admin' | 'Baseline';
export type CnpAction = 'Accept' | 'Deny' | 'Pass';

export interface CnpRule {
  readonly name: string;
  readonly action: CnpAction;
  /** Pods (by namespace and pod selectors) and, for egress, networks. */
  readonly peers: readonly PolicyPeer[];
  /** `all`: any protocol and port. Named ports stand for that name with any protocol. */
  readonly ports: readonly PolicyPort[] | 'all';
}

export interface ClusterPolicyInfo {
  readonly name: string;
  readonly tier: CnpTier;
  readonly priority: number;
  /** The pods it applies to (in every namespace its selector allows). */
  readonly subject: PodSelection;
  readonly ingress: readonly CnpRule[];
  readonly egress: readonly CnpRule[];
}

export type ParsedClusterPolicy = { readonly kind: 'policy'; readonly policy: ClusterPolicyInfo } | { readonly kind: 'rejected'; readonly reason: string };

/** The API's own limits (CRD validation): a server that skipped them must not make us compile more. */
export const CNP_MAX_RULES = 25;
export const CNP_MAX_PEERS = 25;
export const CNP_MAX_PROTOCOLS = 25;

class Invalid extends Error {}

function selector(v: unknown, where: string): LabelSelector {
  if (v === undefined || v === null) throw new Invalid(`${where} is required`);
  const r = parseSelector(v, where);
  if ('error' in r) throw new Invalid(r.error);
  return r.selector;
}

/** `{namespaces: sel}` or `{pods: {namespaceSelector, podSelector}}`: exactly one. */
function selection(v: Record<string, unknown>, where: string, allowed: readonly string[]): PodSelection | undefined {
  const keys = Object.keys(v).filter((k) => v[k] !== undefined && v[k] !== null);
  if (keys.length !== 1) throw new Invalid(`${where}: exactly one of ${allowed.join(', ')} must be set (found ${keys.length === 0 ? 'none' : keys.join(', ')})`);
  const key = keys[0] as string;
  if (!allowed.includes(key)) throw new Invalid(`${where}.${key} is not supported (${allowed.join(', ')} are)`);
  if (key === 'namespaces') return { namespaces: { kind: 'selector', selector: selector(v['namespaces'], `${where}.namespaces`) }, pods: EVERYTHING };
  if (key === 'pods') {
    const p = asRecord(v['pods']);
    if (!p) throw new Invalid(`${where}.pods: not an object`);
    return { namespaces: { kind: 'selector', selector: selector(p['namespaceSelector'], `${where}.pods.namespaceSelector`) }, pods: selector(p['podSelector'], `${where}.pods.podSelector`) };
  }
  return undefined;
}

function peers(v: unknown, where: string, egress: boolean): PolicyPeer[] {
  const list = asArray(v);
  if (list.length === 0) throw new Invalid(`${where} must list at least one peer`);
  if (list.length > CNP_MAX_PEERS) throw new Invalid(`${where}: more than ${CNP_MAX_PEERS} peers`);
  const out: PolicyPeer[] = [];
  list.forEach((p, i) => {
    const r = asRecord(p);
    if (!r) throw new Invalid(`${where}[${i}]: not an object`);
    const w = `${where}[${i}]`;
    if (egress && r['networks'] !== undefined && r['networks'] !== null) {
      if (Object.keys(r).filter((k) => r[k] !== undefined && r[k] !== null).length !== 1) throw new Invalid(`${w}: exactly one of namespaces, pods, networks must be set`);
      const nets = asArray(r['networks']);
      if (nets.length === 0 || nets.length > CNP_MAX_PEERS) throw new Invalid(`${w}.networks: 1 to ${CNP_MAX_PEERS} CIDRs`);
      for (const n of nets) {
        const c = typeof n === 'string' ? tryParseCIDR(n) : undefined;
        if (!c || !String(n).includes('/')) throw new Invalid(`${w}.networks: ${JSON.stringify(n)} is not a CIDR`);
        out.push({ kind: 'ipBlock', cidr: c, except: [] });
      }
      return;
    }
    const sel = selection(r, w, egress ? ['namespaces', 'pods', 'networks'] : ['namespaces', 'pods']);
    if (sel) out.push({ kind: 'pods', selection: sel });
  });
  return out;
}

function ports(v: unknown, where: string): PolicyPort[] | 'all' {
  if (v === undefined || v === null) return 'all';
  const list = asArray(v);
  if (list.length === 0 || list.length > CNP_MAX_PROTOCOLS) throw new Invalid(`${where}: 1 to ${CNP_MAX_PROTOCOLS} entries`);
  const out: PolicyPort[] = [];
  list.forEach((p, i) => {
    const r = asRecord(p);
    const w = `${where}[${i}]`;
    const keys = r ? Object.keys(r).filter((k) => r[k] !== undefined && r[k] !== null) : [];
    if (!r || keys.length !== 1) throw new Invalid(`${w}: exactly one of tcp, udp, sctp, destinationNamedPort must be set`);
    const key = keys[0] as string;
    if (key === 'destinationNamedPort') {
      const name = asString(r[key]);
      if (name === undefined || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 15) throw new Invalid(`${w}.destinationNamedPort: ${JSON.stringify(r[key])} is not a port name`);
      // A named port is that name whatever its protocol.
      for (const protocol of ['tcp', 'udp', 'sctp'] as const) out.push({ kind: 'named', protocol, name });
      return;
    }
    if (key !== 'tcp' && key !== 'udp' && key !== 'sctp') throw new Invalid(`${w}.${key} is not a protocol`);
    const proto = asRecord(r[key]) ?? {};
    const dp = asRecord(proto['destinationPort']);
    // As the CRD has it: a protocol entry names its destination port (a range for all of them).
    if (!dp) throw new Invalid(`${w}.${key}.destinationPort is required`);
    const range = asRecord(dp['range']);
    if (dp['number'] !== undefined && range) throw new Invalid(`${w}.${key}.destinationPort: number and range are exclusive`);
    const valid = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
    if (range) {
      if (!valid(range['start']) || !valid(range['end']) || range['start'] > range['end']) throw new Invalid(`${w}.${key}.destinationPort.range: start and end are ports, start ≤ end`);
      out.push({ kind: 'number', protocol: key, port: range['start'], endPort: range['end'] });
      return;
    }
    if (!valid(dp['number'])) throw new Invalid(`${w}.${key}.destinationPort.number: ${JSON.stringify(dp['number'])} is not a port`);
    out.push({ kind: 'number', protocol: key, port: dp['number'] });
  });
  return out;
}

function rules(v: unknown, where: string, egress: boolean): CnpRule[] {
  if (v === undefined || v === null) return [];
  const list = asArray(v);
  if (list.length > CNP_MAX_RULES) throw new Invalid(`${where}: more than ${CNP_MAX_RULES} rules`);
  return list.map((x, i) => {
    const r = asRecord(x);
    const w = `${where}[${i}]`;
    if (!r) throw new Invalid(`${w}: not an object`);
    const action = r['action'];
    if (action !== 'Accept' && action !== 'Deny' && action !== 'Pass') throw new Invalid(`${w}.action: ${JSON.stringify(action)} is not Accept, Deny or Pass`);
    const name = asString(r['name']) ?? '';
    if (name.length > 100) throw new Invalid(`${w}.name: longer than 100 characters`);
    const ps = peers(r[egress ? 'to' : 'from'], `${w}.${egress ? 'to' : 'from'}`, egress);
    const pts = ports(r['protocols'], `${w}.protocols`);
    if (pts !== 'all' && pts.some((p) => p.kind === 'named') && ps.some((p) => p.kind === 'ipBlock')) throw new Invalid(`${w}: a named port cannot go with a networks peer (networks have no named ports)`);
    return { name, action, peers: ps, ports: pts };
  });
}

/**
 * One ClusterNetworkPolicy, or why it is refused as a whole (a policy half-applied could allow what
 * its author meant to deny). Peers the firewall cannot judge (nodes, domainNames) are refused too.
 */
export function parseClusterNetworkPolicy(o: KubeObject): ParsedClusterPolicy {
  try {
    const spec = asRecord(o.raw['spec']);
    if (!spec) throw new Invalid('spec is missing');
    const tier = spec['tier'];
    if (tier !== 'Admin' && tier !== 'Baseline') throw new Invalid(`spec.tier: ${JSON.stringify(tier)} is not Admin or Baseline`);
    const priority = spec['priority'];
    if (typeof priority !== 'number' || !Number.isInteger(priority) || priority < 0 || priority > 1000) throw new Invalid(`spec.priority: ${JSON.stringify(priority)} is not an integer from 0 to 1000`);
    const subjectRaw = asRecord(spec['subject']);
    if (!subjectRaw) throw new Invalid('spec.subject is required');
    const subject = selection(subjectRaw, 'spec.subject', ['namespaces', 'pods']) as PodSelection;
    return { kind: 'policy', policy: { name: o.metadata.name, tier, priority, subject, ingress: rules(spec['ingress'], 'spec.ingress', false), egress: rules(spec['egress'], 'spec.egress', true) } };
  } catch (e) {
    if (e instanceof Invalid) return { kind: 'rejected', reason: e.message };
    throw e;
  }
}
