import type { CIDR, Family, IP } from '../../util/ip.js';

/** Our routes carry this protocol number, so we can find them and touch nothing else (rtnetlink `proto`). */
export const KUBE_ROUTER_RT_PROTO = 44;

export interface Route {
  readonly dst: CIDR;
  readonly gateway?: IP;
  readonly dev?: string;
  /** Routing table id; 254 is main. */
  readonly table: number;
  readonly protocol: number;
  readonly src?: IP;
  readonly type?: 'unicast' | 'local' | 'blackhole';
  readonly onlink?: boolean;
  readonly scope?: 'link' | 'host' | 'global';
}

export interface Link {
  readonly name: string;
  readonly index: number;
  readonly kind?: string;
  readonly mtu: number;
  readonly up: boolean;
  readonly master?: string;
}

export interface Address {
  readonly dev: string;
  readonly ip: IP;
  readonly prefix: number;
}

export interface RouteRule {
  readonly family: Family;
  readonly priority: number;
  readonly from?: CIDR;
  readonly fwmark?: number;
  readonly table: number;
}

export type NetOp =
  | { readonly op: 'route-replace'; readonly route: Route }
  | { readonly op: 'route-delete'; readonly route: Route }
  | { readonly op: 'addr-add'; readonly dev: string; readonly ip: IP; readonly prefix: number }
  | { readonly op: 'addr-delete'; readonly dev: string; readonly ip: IP; readonly prefix: number }
  | { readonly op: 'link-add-bridge'; readonly name: string }
  | { readonly op: 'link-add-dummy'; readonly name: string }
  | { readonly op: 'link-add-vxlan'; readonly name: string; readonly vni: number; readonly local: IP; readonly port: number; readonly dev?: string; readonly remote?: IP; readonly mac?: string }
  /** A permanent neighbour entry (the far end's MAC on a point-to-point VXLAN). */
  | { readonly op: 'neigh-replace'; readonly dev: string; readonly ip: IP; readonly mac: string }
  /** IP-in-IP (ip6tnl for IPv6); with `fouPort`, in UDP with a GUE header towards that port (upstream's "fou"). */
  | { readonly op: 'link-add-ipip'; readonly name: string; readonly local: IP; readonly remote: IP; readonly fouPort?: number }
  /** The GUE receive port (upstream's `ip fou add port P gue`), per family. */
  | { readonly op: 'fou-add'; readonly family: Family; readonly port: number }
  | { readonly op: 'link-set'; readonly name: string; readonly up?: boolean; readonly mtu?: number; readonly master?: string }
  | { readonly op: 'link-delete'; readonly name: string }
  | { readonly op: 'rule-add'; readonly rule: RouteRule }
  | { readonly op: 'rule-delete'; readonly rule: RouteRule };

/** Routes, links, addresses and policy rules. Writes go in one batch; a failure names the op. */
export interface Netlink {
  routes(family: Family, filter?: { readonly table?: number | 'all'; readonly protocol?: number }): Promise<Route[]>;
  links(): Promise<Link[]>;
  addresses(family: Family): Promise<Address[]>;
  rules(family: Family): Promise<RouteRule[]>;
  apply(ops: readonly NetOp[]): Promise<void>;
  /**
   * Calls `onDeleted` (coalesced) whenever a route of `protocol` is deleted by anyone, so that a
   * controller can put its routes back at once instead of at its next period. Returns a stop function.
   */
  watchRouteDeletions(protocol: number, onDeleted: () => void): () => void;
}
