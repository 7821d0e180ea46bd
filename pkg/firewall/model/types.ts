import type { CIDR, IP } from '../../util/ip.js';

export type PolicyProtocol = 'tcp' | 'udp' | 'sctp';

/** The API's protocol names (Pod container ports and NetworkPolicy ports use the same ones). */
export const API_PROTOCOLS: Readonly<Record<string, PolicyProtocol>> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

export interface SelectorRequirement {
  readonly key: string;
  readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  /** Sorted and unique; empty for Exists / DoesNotExist. */
  readonly values: readonly string[];
}

/** A label selector in canonical form (sorted), so equal selectors have equal keys. */
export interface LabelSelector {
  readonly matchLabels: readonly (readonly [string, string])[];
  readonly matchExpressions: readonly SelectorRequirement[];
}

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

export interface ContainerPortInfo {
  readonly name: string;
  readonly protocol: PolicyProtocol;
  readonly port: number;
}

export interface PodInfo {
  readonly namespace: string;
  readonly name: string;
  readonly nodeName?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ips: readonly IP[];
  readonly hostNetwork: boolean;
  /** Named container ports (unnamed ones cannot be referred to by a policy). */
  readonly namedPorts: readonly ContainerPortInfo[];
}

export interface NamespaceInfo {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** This node as the firewall needs it. */
export interface FirewallNode {
  readonly name: string;
  readonly podCIDRs: readonly CIDR[];
}

export interface FirewallOptions {
  readonly defaultDeny: boolean;
  readonly serviceClusterIPRanges: readonly CIDR[];
  /** Whether this iptables has the sctp match; without it SCTP allow rules are left out (SCTP stays denied). */
  readonly sctp: boolean;
}
