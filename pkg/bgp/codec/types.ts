import type { CIDR, IP } from '../../util/ip.js';
import type { Afi } from './constants.js';
import type { ErrorHandling } from './errors.js';

export type Capability =
  | { readonly kind: 'multiprotocol'; readonly afi: number; readonly safi: number }
  | { readonly kind: 'route-refresh' }
  | { readonly kind: 'enhanced-route-refresh' }
  | { readonly kind: 'four-octet-as'; readonly asn: number }
  | { readonly kind: 'graceful-restart'; readonly restarting: boolean; readonly notification: boolean; readonly time: number; readonly families: readonly { readonly afi: number; readonly safi: number; readonly forwardingPreserved: boolean }[] }
  | { readonly kind: 'unknown'; readonly code: number; readonly value: Uint8Array };

export interface OpenMessage {
  readonly type: 'open';
  readonly version: number;
  /** The 2-byte My AS field (AS_TRANS when the real AS needs four octets). */
  readonly myAs: number;
  readonly holdTime: number;
  readonly bgpId: IP;
  readonly capabilities: readonly Capability[];
}

export type AsPathSegment = { readonly type: 'set' | 'sequence'; readonly asns: readonly number[] };

export type Attribute =
  | { readonly type: 'origin'; readonly flags: number; readonly origin: 0 | 1 | 2 }
  | { readonly type: 'as-path'; readonly flags: number; readonly segments: readonly AsPathSegment[] }
  | { readonly type: 'next-hop'; readonly flags: number; readonly nextHop: IP }
  | { readonly type: 'med'; readonly flags: number; readonly value: number }
  | { readonly type: 'local-pref'; readonly flags: number; readonly value: number }
  | { readonly type: 'atomic-aggregate'; readonly flags: number }
  | { readonly type: 'aggregator'; readonly flags: number; readonly asn: number; readonly address: IP }
  | { readonly type: 'communities'; readonly flags: number; readonly communities: readonly number[] }
  | { readonly type: 'originator-id'; readonly flags: number; readonly id: IP }
  | { readonly type: 'cluster-list'; readonly flags: number; readonly ids: readonly IP[] }
  | { readonly type: 'mp-reach'; readonly flags: number; readonly afi: Afi; readonly safi: number; readonly nextHops: readonly IP[]; readonly nlri: readonly CIDR[] }
  | { readonly type: 'mp-unreach'; readonly flags: number; readonly afi: Afi; readonly safi: number; readonly withdrawn: readonly CIDR[] }
  | { readonly type: 'as4-path'; readonly flags: number; readonly segments: readonly AsPathSegment[] }
  | { readonly type: 'unknown'; readonly flags: number; readonly code: number; readonly value: Uint8Array };

/** An attribute problem that did not reset the session (RFC 7606). */
export interface AttributeError {
  readonly code: number;
  readonly subcode: number;
  readonly handling: Exclude<ErrorHandling, 'session-reset'>;
  readonly reason: string;
}

export interface UpdateMessage {
  readonly type: 'update';
  readonly withdrawn: readonly CIDR[];
  readonly attributes: readonly Attribute[];
  readonly nlri: readonly CIDR[];
  /** Set when RFC 7606 says the UPDATE's routes are to be treated as withdrawn. */
  readonly treatAsWithdraw?: true;
  readonly errors?: readonly AttributeError[];
}

export interface NotificationMessage {
  readonly type: 'notification';
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;
}

export interface KeepaliveMessage {
  readonly type: 'keepalive';
}

export interface RouteRefreshMessage {
  readonly type: 'route-refresh';
  readonly afi: number;
  /** 0 normal request; 1 and 2 begin and end of route refresh (RFC 7313). */
  readonly subtype: number;
  readonly safi: number;
}

export type BgpMessage = OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage | RouteRefreshMessage;

/** What both ends negotiated: how AS numbers are written in AS_PATH and AGGREGATOR. */
export interface CodecOptions {
  readonly fourOctetAs: boolean;
}
