/** RFC 4271 section 4: every message starts with a 16-byte marker of all ones, a length and a type. */
export const HEADER_LEN = 19;
export const MAX_MESSAGE_LEN = 4096;
export const BGP_VERSION = 4;
/** RFC 6793: the 2-byte AS placed in OPEN and AS_PATH when the real AS does not fit. */
export const AS_TRANS = 23456;

export const MessageType = { Open: 1, Update: 2, Notification: 3, Keepalive: 4, RouteRefresh: 5 } as const;

export const Afi = { IPv4: 1, IPv6: 2 } as const;
export type Afi = (typeof Afi)[keyof typeof Afi];
export const Safi = { Unicast: 1 } as const;

export const AttrType = {
  Origin: 1,
  AsPath: 2,
  NextHop: 3,
  Med: 4,
  LocalPref: 5,
  AtomicAggregate: 6,
  Aggregator: 7,
  Communities: 8,
  OriginatorId: 9,
  ClusterList: 10,
  MpReach: 14,
  MpUnreach: 15,
  As4Path: 17,
  As4Aggregator: 18,
} as const;

export const AttrFlag = { Optional: 0x80, Transitive: 0x40, Partial: 0x20, ExtendedLength: 0x10 } as const;

export const CapabilityCode = { Multiprotocol: 1, RouteRefresh: 2, GracefulRestart: 64, FourOctetAs: 65, EnhancedRouteRefresh: 70 } as const;

/** NOTIFICATION error codes and subcodes (RFC 4271 section 4.5, 6; RFC 4486; RFC 7313). */
export const Notif = {
  Header: 1,
  Open: 2,
  Update: 3,
  HoldTimerExpired: 4,
  Fsm: 5,
  Cease: 6,
  RouteRefresh: 7,
} as const;
export const HeaderSub = { NotSynchronized: 1, BadLength: 2, BadType: 3 } as const;
export const OpenSub = { UnsupportedVersion: 1, BadPeerAs: 2, BadBgpId: 3, UnsupportedOptionalParameter: 4, UnacceptableHoldTime: 6, UnsupportedCapability: 7 } as const;
export const UpdateSub = {
  MalformedAttributeList: 1,
  UnrecognizedWellKnown: 2,
  MissingWellKnown: 3,
  AttributeFlags: 4,
  AttributeLength: 5,
  InvalidOrigin: 6,
  InvalidNextHop: 8,
  OptionalAttribute: 9,
  InvalidNetworkField: 10,
  MalformedAsPath: 11,
} as const;
export const CeaseSub = { MaxPrefixes: 1, AdminShutdown: 2, PeerDeconfigured: 3, AdminReset: 4, ConnectionRejected: 5, OtherConfigChange: 6, CollisionResolution: 7, OutOfResources: 8, HardReset: 9, BfdDown: 10 } as const;
