import type { Family } from '../../util/ip.js';
import { boundedName } from '../../util/names.js';
import { IPSET_MAX_NAME } from '../../linux/ipset/types.js';

/**
 * Names of the firewall's kernel objects. Deterministic (a hash of what the object stands for, never
 * a sync version), with prefixes that say they are ours (pkg/linux/owned.ts). Limits: iptables chain
 * names are at most 28 characters (XT_EXTENSION_MAXNAMELEN 29 with the NUL); ipset names at most 31.
 */
export const CHAIN_MAX = 28;

export const TOP_CHAINS = { INPUT: 'KUBE-ROUTER-INPUT', FORWARD: 'KUBE-ROUTER-FORWARD', OUTPUT: 'KUBE-ROUTER-OUTPUT' } as const;
export const CHAINS = {
  ingress: 'KUBE-NWPLCY-INGRESS',
  egress: 'KUBE-NWPLCY-EGRESS',
  pass: 'KUBE-NWPLCY-PASS',
  reject: 'KUBE-NWPLCY-REJECT',
  cnpAccept: 'KUBE-NWPLCY-CNP-ACCEPT',
  cnpPass: 'KUBE-NWPLCY-CNP-PASS',
} as const;

/** A tier of ClusterNetworkPolicies for one direction: `KUBE-NWPLCY-ADMIN-I`, `KUBE-NWPLCY-BASE-E`. */
export function tierChain(tier: 'Admin' | 'Baseline', direction: 'ingress' | 'egress'): string {
  return `KUBE-NWPLCY-${tier === 'Admin' ? 'ADMIN' : 'BASE'}-${direction === 'ingress' ? 'I' : 'E'}`;
}

/** 'KUBE-NWPLCY-CI-' (15) + 13 = 28: one ClusterNetworkPolicy's rules for one direction. */
export function clusterPolicyChain(direction: 'ingress' | 'egress', name: string): string {
  return boundedName(direction === 'ingress' ? 'KUBE-NWPLCY-CI-' : 'KUBE-NWPLCY-CE-', name, CHAIN_MAX, 13);
}

/** Chains the firewall may create and delete: the top three plus everything under these prefixes. */
export const FIREWALL_CHAIN_PREFIXES = ['KUBE-NWPLCY-', 'KUBE-POD-FW-'] as const;

export function isFirewallChain(name: string): boolean {
  return (Object.values(TOP_CHAINS) as string[]).includes(name) || FIREWALL_CHAIN_PREFIXES.some((p) => name.startsWith(p));
}

/** 'KUBE-NWPLCY-NI-' (15) + 13 = 28. */
export function namespaceChain(direction: 'ingress' | 'egress', namespace: string): string {
  return boundedName(direction === 'ingress' ? 'KUBE-NWPLCY-NI-' : 'KUBE-NWPLCY-NE-', namespace, CHAIN_MAX, 13);
}

/** 'KUBE-NWPLCY-I-' (14) + 14 = 28. */
export function policyChain(direction: 'ingress' | 'egress', namespace: string, name: string): string {
  return boundedName(direction === 'ingress' ? 'KUBE-NWPLCY-I-' : 'KUBE-NWPLCY-E-', `${namespace}/${name}`, CHAIN_MAX, 14);
}

/** ipset names: an IPv6 set is the IPv4 name behind `inet6:`, as upstream names them: 'inet6:KRT-NPS-' (14) + 16 = 30. */
function familyName(base: string, family: Family): string {
  const name = family === 6 ? `inet6:${base}` : base;
  if (name.length > IPSET_MAX_NAME) throw new Error(`ipset name ${name} is too long`);
  return name;
}

export const FIREWALL_SET_PREFIXES = ['KRT-NP', 'inet6:KRT-NP'] as const;

export function isFirewallSet(name: string): boolean {
  return FIREWALL_SET_PREFIXES.some((p) => name.startsWith(p));
}

export function localPodsSet(family: Family): string {
  return familyName('KRT-NP-LOCAL-PODS', family);
}

/** externalIPs and LoadBalancer IPs of Services (the INPUT exemption). */
export function serviceVipsSet(family: Family): string {
  return familyName('KRT-NP-SVC-VIPS', family);
}

/** Pods of a selection: `KRT-NPS-` all in the cluster, `KRT-NPT-` this node's (targets). */
export function selectionSet(selectionKey: string, scope: 'cluster' | 'local', family: Family): string {
  return familyName(boundedName(scope === 'cluster' ? 'KRT-NPS-' : 'KRT-NPT-', selectionKey, 24), family);
}

/** Pod address + named port pairs: `KRT-NPN-` all in the cluster, `KRT-NPL-` this node's. */
export function namedPortSet(selectionKey: string, scope: 'cluster' | 'local', protocol: string, portName: string, family: Family): string {
  return familyName(boundedName(scope === 'cluster' ? 'KRT-NPN-' : 'KRT-NPL-', `${selectionKey}|${protocol}|${portName}`, 24), family);
}

export function ipBlockSet(key: string, family: Family): string {
  return familyName(boundedName('KRT-NPB-', key, 24), family);
}

/** A rule's peers as one `list:set` of their sets: `KRT-NPU-`. */
export function unionSet(key: string, family: Family): string {
  return familyName(boundedName('KRT-NPU-', key, 24), family);
}

/**
 * The same names, remembered: a policy render names thousands of sets and chains and each name is a
 * sha256, so a tracker keeps one of these for its lifetime (the names never change for a key).
 */
export class FirewallNames {
  private readonly memo = new Map<string, string>();

  private get(key: string, make: () => string): string {
    let v = this.memo.get(key);
    if (v === undefined) {
      v = make();
      this.memo.set(key, v);
    }
    return v;
  }

  namespaceChain(direction: 'ingress' | 'egress', namespace: string): string {
    return this.get(`nc|${direction}|${namespace}`, () => namespaceChain(direction, namespace));
  }
  policyChain(direction: 'ingress' | 'egress', namespace: string, name: string): string {
    return this.get(`pc|${direction}|${namespace}/${name}`, () => policyChain(direction, namespace, name));
  }
  clusterPolicyChain(direction: 'ingress' | 'egress', name: string): string {
    return this.get(`cc|${direction}|${name}`, () => clusterPolicyChain(direction, name));
  }
  tierChain(tier: 'Admin' | 'Baseline', direction: 'ingress' | 'egress'): string {
    return tierChain(tier, direction);
  }
  selectionSet(selectionKey: string, scope: 'cluster' | 'local', family: Family): string {
    return this.get(`ss|${scope}|${family}|${selectionKey}`, () => selectionSet(selectionKey, scope, family));
  }
  namedPortSet(selectionKey: string, scope: 'cluster' | 'local', protocol: string, portName: string, family: Family): string {
    return this.get(`np|${scope}|${family}|${protocol}|${portName}|${selectionKey}`, () => namedPortSet(selectionKey, scope, protocol, portName, family));
  }
  ipBlockSet(key: string, family: Family): string {
    return this.get(`ib|${family}|${key}`, () => ipBlockSet(key, family));
  }
  unionSet(key: string, family: Family): string {
    return this.get(`un|${family}|${key}`, () => unionSet(key, family));
  }
}
