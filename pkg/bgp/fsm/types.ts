import type { IP } from '../../util/ip.js';
import type { BgpMessage, Capability, NotificationMessage, OpenMessage, UpdateMessage } from '../codec/types.js';

/** RFC 4271 section 8.2.2. */
export type FsmStateName = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';

export interface PeerConfig {
  readonly localAs: number;
  readonly peerAs: number;
  readonly routerId: IP;
  /** Hold time we propose, seconds (0 or 3..65535). */
  readonly holdTime: number;
  readonly connectRetrySeconds: number;
  /** Only wait for the peer to connect (never initiate). */
  readonly passive: boolean;
  readonly capabilities: readonly Capability[];
}

/** What both sides agreed in their OPENs. */
export interface Negotiated {
  readonly holdTime: number;
  readonly keepalive: number;
  readonly fourOctetAs: boolean;
  readonly peerAs: number;
  readonly peerId: IP;
  readonly families: readonly { readonly afi: number; readonly safi: number }[];
  readonly gracefulRestart: boolean;
  readonly routeRefresh: boolean;
  /** RFC 7313: refreshes are bracketed by Begin/End-of-Route-Refresh. */
  readonly enhancedRefresh: boolean;
}

export interface FsmState {
  readonly name: FsmStateName;
  /** Set by ManualStart, cleared by ManualStop: whether the session should be up at all. */
  readonly enabled: boolean;
  readonly connectRetryCounter: number;
  /** Deadlines in ms on the caller's clock; undefined when the timer is not running. */
  readonly connectRetryAt?: number;
  readonly holdAt?: number;
  readonly keepaliveAt?: number;
  /** After an error the session waits before starting again, longer each time (damping). */
  readonly idleHoldAt?: number;
  readonly negotiated?: Negotiated;
}

export type FsmEvent =
  | { readonly type: 'ManualStart' }
  | { readonly type: 'ManualStop' }
  /** Time passed: expired timers fire. */
  | { readonly type: 'Tick' }
  /** Our outgoing connection was established, or we accepted the peer's. */
  | { readonly type: 'TcpConnected' }
  | { readonly type: 'TcpFails' }
  | { readonly type: 'Message'; readonly message: BgpMessage }
  /** The bytes did not decode: the codec's error, with the NOTIFICATION it implies. */
  | { readonly type: 'DecodeError'; readonly code: number; readonly subcode: number; readonly reason: string; readonly data?: Uint8Array }
  /** Connection collision lost (RFC 4271 6.8): this connection is to be closed. */
  | { readonly type: 'CollisionDump' };

export type FsmAction =
  | { readonly type: 'connect' }
  | { readonly type: 'disconnect' }
  | { readonly type: 'send'; readonly message: OpenMessage | NotificationMessage | { readonly type: 'keepalive' } }
  /** The session reached Established with these terms. */
  | { readonly type: 'up'; readonly negotiated: Negotiated }
  /** The session left Established (or failed before it): why, and whether routes may be kept (RFC 4724). */
  | { readonly type: 'down'; readonly reason: string; readonly graceful: boolean }
  | { readonly type: 'deliver'; readonly message: UpdateMessage | { readonly type: 'route-refresh'; readonly afi: number; readonly safi: number; readonly subtype: number } };

export interface StepResult {
  readonly state: FsmState;
  readonly actions: readonly FsmAction[];
}
