import type { KubeObject } from '../object.js';
import { cidrCovers, tryParseCIDR, familyOf, type CIDR } from '../../util/ip.js';
import { asArray, asNumber, asRecord, asString, ownValue } from '../../util/json.js';
import { parseSelector, type LabelSelector } from './label-selector.js';

import { API_PROTOCOLS, type PolicyProtocol } from './protocol.js';

/** Which namespaces a pod selection looks in: one by name (the policy's own) or those a selector matches. */
export type NamespaceScope = { readonly kind: 'name'; readonly name: string } | { readonly kind: 'selector'; readonly selector: LabelSelector };

/** A set of pods: the unit ipsets are made of, shared by every policy that selects the same pods. */
export interface PodSelection {
  readonly namespaces: NamespaceScope;
  readonly pods: LabelSelector;
}

export type PolicyPeer = { readonly kind: 'pods'; readonly selection: PodSelection } | { readonly kind: 'ipBlock'; readonly cidr: CIDR; readonly except: readonly CIDR[] };

export type PolicyPort =
  | { readonly kind: 'number'; readonly protocol: PolicyProtocol; readonly port: number; readonly endPort?: number }
  | { readonly kind: 'any-port'; readonly protocol: PolicyProtocol }
  | { readonly kind: 'named'; readonly protocol: PolicyProtocol; readonly name: string };

/** One ingress `from` or egress `to` rule. `all` peers: any address; `all` ports: any port and protocol. */
export interface PolicyRule {
  readonly peers: readonly PolicyPeer[] | 'all';
  readonly ports: readonly PolicyPort[] | 'all';
}

export interface PolicyInfo {
  readonly namespace: string;
  readonly name: string;
  readonly podSelector: LabelSelector;
  /** Undefined when the policy does not cover that direction; an empty list denies everything. */
  readonly ingress?: readonly PolicyRule[];
  readonly egress?: readonly PolicyRule[];
}


export type ParsedPolicy = { readonly kind: 'policy'; readonly policy: PolicyInfo; readonly problems: readonly string[] } | { readonly kind: 'rejected'; readonly reason: string };


function parsePort(v: unknown, where: string, problems: string[]): PolicyPort | undefined {
  const r = asRecord(v);
  if (!r) {
    problems.push(`${where}: not an object`);
    return undefined;
  }
  const protoText = r['protocol'] === undefined || r['protocol'] === null ? 'TCP' : asString(r['protocol']);
  const protocol = protoText === undefined ? undefined : ownValue(API_PROTOCOLS, protoText);
  if (!protocol) {
    problems.push(`${where}.protocol: ${JSON.stringify(r['protocol'])} is not TCP, UDP or SCTP`);
    return undefined;
  }
  const port = r['port'];
  const endPort = r['endPort'];
  if (port === undefined || port === null) {
    if (endPort !== undefined && endPort !== null) {
      problems.push(`${where}: endPort without port`);
      return undefined;
    }
    return { kind: 'any-port', protocol };
  }
  const n = typeof port === 'string' && /^\d+$/.test(port) ? Number(port) : asNumber(port);
  if (n === undefined) {
    if (typeof port !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(port) || port.length > 15) {
      problems.push(`${where}.port: ${JSON.stringify(port)} is neither a port number nor a port name`);
      return undefined;
    }
    if (endPort !== undefined && endPort !== null) {
      problems.push(`${where}: endPort needs a numeric port`);
      return undefined;
    }
    return { kind: 'named', protocol, name: port };
  }
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    problems.push(`${where}.port: ${JSON.stringify(port)} is out of range`);
    return undefined;
  }
  if (endPort === undefined || endPort === null) return { kind: 'number', protocol, port: n };
  const e = asNumber(endPort);
  if (e === undefined || !Number.isInteger(e) || e < n || e > 65535) {
    problems.push(`${where}.endPort: ${JSON.stringify(endPort)} must be a port number not below port ${n}`);
    return undefined;
  }
  return e === n ? { kind: 'number', protocol, port: n } : { kind: 'number', protocol, port: n, endPort: e };
}

function parsePeer(v: unknown, namespace: string, where: string, problems: string[]): PolicyPeer | undefined {
  const r = asRecord(v);
  if (!r) {
    problems.push(`${where}: not an object`);
    return undefined;
  }
  const ipBlock = r['ipBlock'];
  const hasPods = r['podSelector'] !== undefined && r['podSelector'] !== null;
  const hasNs = r['namespaceSelector'] !== undefined && r['namespaceSelector'] !== null;
  if (ipBlock !== undefined && ipBlock !== null) {
    if (hasPods || hasNs) {
      problems.push(`${where}: ipBlock cannot be combined with a selector`);
      return undefined;
    }
    const b = asRecord(ipBlock);
    const cidr = tryParseCIDR(asString(b?.['cidr']) ?? '');
    if (!cidr) {
      problems.push(`${where}.ipBlock.cidr: ${JSON.stringify(b?.['cidr'])} is not a CIDR`);
      return undefined;
    }
    const except: CIDR[] = [];
    for (const [i, x] of asArray(b?.['except']).entries()) {
      const c = tryParseCIDR(asString(x) ?? '');
      if (!c || familyOf(c) !== familyOf(cidr) || !cidrCovers(cidr, c)) {
        problems.push(`${where}.ipBlock.except[${i}]: ${JSON.stringify(x)} is not a CIDR inside ${cidr}`);
        return undefined; // dropping only the except would allow what it meant to exclude
      }
      except.push(c);
    }
    return { kind: 'ipBlock', cidr, except: [...new Set(except)].sort() };
  }
  if (!hasPods && !hasNs) {
    problems.push(`${where}: needs podSelector, namespaceSelector or ipBlock`);
    return undefined;
  }
  const pods = parseSelector(r['podSelector'], `${where}.podSelector`);
  if ('error' in pods) {
    problems.push(pods.error);
    return undefined;
  }
  if (!hasNs) return { kind: 'pods', selection: { namespaces: { kind: 'name', name: namespace }, pods: pods.selector } };
  const ns = parseSelector(r['namespaceSelector'], `${where}.namespaceSelector`);
  if ('error' in ns) {
    problems.push(ns.error);
    return undefined;
  }
  return { kind: 'pods', selection: { namespaces: { kind: 'selector', selector: ns.selector }, pods: pods.selector } };
}

/**
 * One ingress or egress rule. Fails closed: an invalid peer or port is dropped with a problem noted,
 * and a rule whose every peer (or port) was invalid allows nothing, never everything.
 */
function parseRule(v: unknown, namespace: string, peerField: 'from' | 'to', where: string, problems: string[]): PolicyRule {
  const r = asRecord(v) ?? {};
  const peersRaw = asArray(r[peerField]);
  const portsRaw = asArray(r['ports']);
  const peers = peersRaw.length === 0 ? 'all' : peersRaw.map((p, i) => parsePeer(p, namespace, `${where}.${peerField}[${i}]`, problems)).filter((p): p is PolicyPeer => p !== undefined);
  const ports = portsRaw.length === 0 ? 'all' : portsRaw.map((p, i) => parsePort(p, `${where}.ports[${i}]`, problems)).filter((p): p is PolicyPort => p !== undefined);
  return { peers, ports };
}

/**
 * A networking.k8s.io/v1 NetworkPolicy. policyTypes default as the API server defaults them: Ingress
 * always, Egress when the policy has egress rules. An unreadable podSelector or policyTypes rejects the
 * whole policy (which pods it isolates would be a guess); smaller faults drop only the faulty part.
 */
export function parsePolicy(o: KubeObject): ParsedPolicy {
  const namespace = o.metadata.namespace;
  if (namespace === undefined) return { kind: 'rejected', reason: 'no namespace' };
  const spec = asRecord(o.raw['spec']);
  if (!spec) return { kind: 'rejected', reason: 'no spec' };
  const sel = parseSelector(spec['podSelector'], 'spec.podSelector');
  if ('error' in sel) return { kind: 'rejected', reason: sel.error };
  const problems: string[] = [];
  const ingressRaw = asArray(spec['ingress']);
  const egressRaw = asArray(spec['egress']);
  let ingress = true;
  let egress = egressRaw.length > 0;
  if (spec['policyTypes'] !== undefined && spec['policyTypes'] !== null) {
    const types = asArray(spec['policyTypes']);
    if (types.some((t) => t !== 'Ingress' && t !== 'Egress')) return { kind: 'rejected', reason: `spec.policyTypes: ${JSON.stringify(spec['policyTypes'])} has a value other than Ingress or Egress` };
    if (types.length > 0) {
      ingress = types.includes('Ingress');
      egress = types.includes('Egress');
    }
  }
  const policy: PolicyInfo = {
    namespace,
    name: o.metadata.name,
    podSelector: sel.selector,
    ...(ingress ? { ingress: ingressRaw.map((r, i) => parseRule(r, namespace, 'from', `spec.ingress[${i}]`, problems)) } : {}),
    ...(egress ? { egress: egressRaw.map((r, i) => parseRule(r, namespace, 'to', `spec.egress[${i}]`, problems)) } : {}),
  };
  return { kind: 'policy', policy, problems };
}
