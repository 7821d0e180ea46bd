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
  /**
   * The nexthop object the route goes through (`nhid`); `gateway` and `dev` are then the object's, as
   * read back.
   */
  readonly nexthop?: number;
}

/**
 * A nexthop object (`ip nexthop`, Linux 5.3): one gateway that many routes share by id. Read back,
 * another tool's may be a group or a blackhole (no gateway, no device): its id is taken all the same.
 */
export interface Nexthop {
  readonly id: number;
  readonly gateway?: IP;
  readonly dev?: string;
  readonly protocol: number;
  readonly onlink?: boolean;
}

/** The nexthop objects we write: a gateway on a device. */
export type GatewayNexthop = Nexthop & { readonly gateway: IP; readonly dev: string };

/**
 * Our nexthop objects: protocol 44 and an id in [base, base + span). Ids are per namespace and shared
 * with every other tool (FRR numbers its own from 1), so ours are both: an object of another
 * protocol in our range, or of ours outside it, is not ours.
 */
export const OWNED_NEXTHOP_IDS = { base: 0x4b520000, span: 0x10000 } as const;

export function isOwnedNexthop(n: Pick<Nexthop, 'id' | 'protocol'>): boolean {
  return n.protocol === KUBE_ROUTER_RT_PROTO && n.id >= OWNED_NEXTHOP_IDS.base && n.id < OWNED_NEXTHOP_IDS.base + OWNED_NEXTHOP_IDS.span;
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
  /**
   * Creates a nexthop object, exclusively: an id already taken (by anyone, since we read the table) is
   * AlreadyExists, never replaced.
   */
  | { readonly op: 'nexthop-add'; readonly nexthop: GatewayNexthop }
  /** Deletes a nexthop object, and with it (as the kernel does) every route through it. */
  | { readonly op: 'nexthop-delete'; readonly id: number }
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
  /** Every nexthop object of the namespace (any protocol); a kernel without them fails with Unsupported. */
  nexthops(): Promise<Nexthop[]>;
  apply(ops: readonly NetOp[]): Promise<void>;
  /**
   * Calls `onDeleted` (coalesced) whenever a route of `protocol` is deleted by anyone, so that a
   * controller can put its routes back at once instead of at its next period. Returns a stop function.
   */
  watchRouteDeletions(protocol: number, onDeleted: () => void): () => void;
  /** Gets ready to write now (a writer thread loads), so that the first sync does not wait for it. */
  warm?(): void;
}
