import type { CIDR, Family, IP, Port } from '../../util/ip.js';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type Scheduler = 'rr' | 'lc' | 'sh' | 'dh' | 'mh' | 'sed' | 'nq' | 'wrr' | 'wlc';

/** One port of a Service, with everything the proxy needs from the Service around it. */
export interface ServicePort {
  readonly namespace: string;
  readonly name: string;
  readonly portName: string;
  readonly protocol: Protocol;
  readonly port: Port;
  readonly nodePort?: Port;
  readonly clusterIPs: readonly IP[];
  readonly externalIPs: readonly IP[];
  readonly loadBalancerIPs: readonly IP[];
  /** ClientIP affinity timeout; undefined without affinity. */
  readonly affinitySeconds?: number;
  readonly internalLocal: boolean;
  readonly externalLocal: boolean;
  readonly preferClose: boolean;
  readonly scheduler: Scheduler;
  readonly schedFlags: readonly string[];
  readonly hairpin: boolean;
  readonly hairpinExternalIPs: boolean;
  readonly healthCheckNodePort?: Port;
}

export interface ServiceInfo {
  readonly namespace: string;
  readonly name: string;
  readonly ports: readonly ServicePort[];
}

export interface Endpoint {
  readonly ip: IP;
  readonly port: Port;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly nodeName?: string;
  readonly zone?: string;
  readonly hintZones?: readonly string[];
}

/** Endpoints of one Service, by port name (from all its EndpointSlices, merged). */
export interface ServiceEndpoints {
  readonly byPortName: ReadonlyMap<string, readonly Endpoint[]>;
}

export interface NodeContext {
  readonly name: string;
  readonly zone?: string;
  /** Addresses NodePorts are served on, per family (primary IP, or all local IPs with bindon-all-ip). */
  readonly nodePortIPs: Readonly<Record<Family, readonly IP[]>>;
  /** Every node's pod CIDRs: traffic from them keeps its source. */
  readonly podCIDRs: readonly CIDR[];
  /** Addresses local to this node: a service IP that is one of them is not rejected for unknown ports. */
  readonly localIPs: readonly IP[];
  /** The Node object's primary address per family. */
  readonly primaryIPs: Readonly<Partial<Record<Family, IP>>>;
}

export type FrontendKind = 'cluster' | 'external' | 'loadbalancer' | 'nodeport';

export interface Backend {
  readonly ip: IP;
  readonly port: Port;
}

/** One address:port a service answers on, with the endpoints it sends new connections to. */
export interface Frontend {
  readonly ip: IP;
  readonly protocol: Protocol;
  readonly port: Port;
  readonly kind: FrontendKind;
  /** `namespace/name:portName`, for logs and metrics. */
  readonly service: string;
  /** Sorted, de-duplicated. Empty: new connections are rejected. */
  readonly backends: readonly Backend[];
  /** Masquerade traffic that does not come from a pod (upstream's rule); false keeps the client source. */
  readonly masquerade: boolean;
  readonly affinitySeconds?: number;
  /** Backends that get hairpin SNAT when they reach themselves through this frontend. */
  readonly hairpin: boolean;
  /** IPVS scheduler and its flags (`flag-1`..`flag-3`) from the service annotations; nftables spreads at random. */
  readonly scheduler: Scheduler;
  readonly schedFlags: readonly string[];
}

/** What the proxy wants in the kernel for one family. Keys are `ip . proto . port` (nft element text). */
export interface FamilyModel {
  readonly family: Family;
  readonly frontends: ReadonlyMap<string, Frontend>;
  readonly podCIDRs: readonly CIDR[];
  readonly localIPs: readonly IP[];
  /** The node's primary address in this family (source of host traffic to VIPs), if it has one. */
  readonly nodeIP?: IP;
}

export interface ProxyModel {
  readonly families: readonly FamilyModel[];
}
