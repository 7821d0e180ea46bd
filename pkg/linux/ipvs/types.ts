import type { Family, IP } from '../../util/ip.js';

export type IpvsProtocol = 'tcp' | 'udp' | 'sctp';
export type IpvsForward = 'masq' | 'local' | 'tunnel' | 'route' | 'bypass';

/** A virtual service is found by address, protocol and port, or by firewall mark. */
export type IpvsServiceId =
  | { readonly family: Family; readonly protocol: IpvsProtocol; readonly address: IP; readonly port: number }
  | { readonly family: Family; readonly fwmark: number };

/** Service flags (ip_vs.h IP_VS_SVC_F_*), by name. */
export interface IpvsServiceFlags {
  readonly persistent?: boolean;
  readonly onePacket?: boolean;
  /** Scheduler flags 1-3: for sh, 1 = fallback and 2 = port; for mh the same. */
  readonly sched1?: boolean;
  readonly sched2?: boolean;
  readonly sched3?: boolean;
}

export interface IpvsService {
  readonly id: IpvsServiceId;
  readonly scheduler: string;
  readonly flags: IpvsServiceFlags;
  /** Persistence timeout, seconds (0 without persistence). */
  readonly timeout: number;
  /** Persistence netmask: an IPv4 mask as a number, or the IPv6 prefix length. */
  readonly netmask: number;
}

export interface IpvsStats {
  readonly connections: number;
  readonly packetsIn: number;
  readonly packetsOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly cps: number;
  readonly ppsIn: number;
  readonly ppsOut: number;
  readonly bpsIn: number;
  readonly bpsOut: number;
}

export interface IpvsServiceState extends IpvsService {
  readonly stats: IpvsStats;
}

export interface IpvsDestination {
  readonly address: IP;
  readonly port: number;
  readonly forward: IpvsForward;
  readonly weight: number;
  readonly upperThreshold: number;
  readonly lowerThreshold: number;
}

export interface IpvsDestinationState extends IpvsDestination {
  readonly activeConnections: number;
  readonly inactiveConnections: number;
  readonly persistentConnections: number;
  readonly stats: IpvsStats;
}

/** Global connection timeouts, seconds (0 leaves one unchanged when setting). */
export interface IpvsTimeouts {
  readonly tcp: number;
  readonly tcpFin: number;
  readonly udp: number;
}

export type IpvsOp =
  | { readonly op: 'add-service'; readonly service: IpvsService }
  | { readonly op: 'update-service'; readonly service: IpvsService }
  | { readonly op: 'delete-service'; readonly id: IpvsServiceId }
  | { readonly op: 'add-dest'; readonly service: IpvsServiceId; readonly dest: IpvsDestination }
  | { readonly op: 'update-dest'; readonly service: IpvsServiceId; readonly dest: IpvsDestination }
  | { readonly op: 'delete-dest'; readonly service: IpvsServiceId; readonly address: IP; readonly port: number };

/** What one op did: undefined when it succeeded, the typed error otherwise (the others still ran). */
export type IpvsOpResult = Error | undefined;

/** The kernel's IPVS table, over generic netlink (or a fake with the same behaviour). */
export interface Ipvs {
  services(): Promise<IpvsServiceState[]>;
  destinations(service: IpvsServiceId): Promise<IpvsDestinationState[]>;
  /** Runs every op, in order, and reports each one's outcome. */
  apply(ops: readonly IpvsOp[]): Promise<IpvsOpResult[]>;
  timeouts(): Promise<IpvsTimeouts>;
  setTimeouts(t: IpvsTimeouts): Promise<void>;
  close(): void;
}

/** A stable text key for a service id: `tcp/198.18.0.1/80`, `[6]fwmark/7`. */
export function serviceIdKey(id: IpvsServiceId): string {
  return 'fwmark' in id ? `fwmark${id.family}/${id.fwmark}` : `${id.protocol}/${id.address}/${id.port}`;
}

export function destKey(address: string, port: number): string {
  return `${address}/${port}`;
}
