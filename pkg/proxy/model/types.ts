import type { CIDR, Family, IP, Port } from '../../util/ip.js';
import type { Endpoint } from '../../k8s/kinds/endpoint-slice.js';
import type { Protocol } from '../../k8s/kinds/protocol.js';
import type { Scheduler } from '../../k8s/kinds/service.js';

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

/** A pod on this node behind a DSR frontend: its tunnel answers for the frontend's address. */
export interface DsrTarget {
  /** `namespace/name`. */
  readonly pod: string;
  readonly ip: IP;
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
  /**
   * Direct server return (externalIPs and LoadBalancer IPs of a `service.dsr: tunnel` Service, on
   * IPVS): backends get the packets in IP-in-IP and answer the client themselves; `local` are the
   * backends on this node, whose pods get the tunnel.
   */
  readonly dsr?: { readonly local: readonly DsrTarget[] };
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

