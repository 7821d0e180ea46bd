/**
 * One BFD session in asynchronous mode (RFC 5880 section 6.8) as a pure reducer: its deadlines (next
 * transmission, detection) are in its state, and the driver only feeds events and carries out the
 * returned actions. Demand mode, echo and authentication are not used.
 */
import { BfdDiag, type BfdState, type ControlPacket } from './packet.js';

/** What the session is configured with (RFC 5880 6.8.1), microseconds as on the wire. */
export interface BfdTimers {
  readonly desiredMinTxUs: number;
  readonly requiredMinRxUs: number;
  readonly detectMult: number;
}

export interface BfdSessionState {
  readonly state: BfdState;
  readonly remoteState: BfdState;
  readonly localDiscr: number;
  /** 0 until the peer's first packet, and again after a detection time without one. */
  readonly remoteDiscr: number;
  readonly diag: number;
  readonly config: BfdTimers;
  /** The Desired Min TX we advertise: not less than one second unless Up (RFC 5880 6.8.3). */
  readonly txUs: number;
  readonly remoteMinRxUs: number;
  readonly remoteDesiredMinTxUs: number;
  readonly remoteDetectMult: number;
  /** A Poll Sequence is running: our packets carry P until the peer answers with F. */
  readonly polling: boolean;
  /** Deadlines in ms on the driver's monotonic clock. */
  readonly nextTxAt: number | undefined;
  readonly detectAt: number | undefined;
}

export type BfdEvent =
  | { readonly type: 'Received'; readonly packet: ControlPacket }
  /** Time passed: expired deadlines fire. */
  | { readonly type: 'Tick' }
  | { readonly type: 'AdminDown' };

export type BfdAction =
  | { readonly type: 'send'; readonly packet: ControlPacket }
  | { readonly type: 'changed'; readonly from: BfdState; readonly to: BfdState; readonly diag: number };

/** The driver's moment: its monotonic time and a random number in [0, 1) for the transmit jitter. */
export interface StepContext {
  readonly now: number;
  readonly rand: number;
}

export interface BfdStep {
  readonly state: BfdSessionState;
  readonly actions: readonly BfdAction[];
}

const SLOW_TX_US = 1_000_000;

/** Intervals we accept from configuration, ms: below 10 ms a session is mostly timers; above, the RFC's 32-bit microseconds. */
export const BFD_MIN_INTERVAL_MS = 10;
export const BFD_MAX_INTERVAL_MS = 4_294_967;

export function initialSession(localDiscr: number, config: BfdTimers, now: number): BfdSessionState {
  return {
    state: 'Down',
    remoteState: 'Down',
    localDiscr,
    remoteDiscr: 0,
    diag: BfdDiag.None,
    config,
    txUs: Math.max(config.desiredMinTxUs, SLOW_TX_US),
    remoteMinRxUs: 1,
    remoteDesiredMinTxUs: 0,
    remoteDetectMult: 0,
    polling: false,
    nextTxAt: now,
    detectAt: undefined,
  };
}

/** The packet this session sends now; `final` answers a Poll (and then carries no P). */
export function controlOf(s: BfdSessionState, final = false): ControlPacket {
  return {
    diag: s.diag,
    state: s.state,
    poll: s.polling && !final,
    final,
    demand: false,
    detectMult: s.config.detectMult,
    myDiscr: s.localDiscr,
    yourDiscr: s.remoteDiscr,
    desiredMinTxUs: s.txUs,
    requiredMinRxUs: s.config.requiredMinRxUs,
    requiredMinEchoRxUs: 0,
  };
}

/** The interval between our periodic packets, ms, with RFC 5880 6.8.7's jitter; undefined: send none. */
export function txIntervalMs(s: BfdSessionState, rand: number): number | undefined {
  if (s.remoteMinRxUs === 0 || s.state === 'AdminDown') return undefined;
  const base = Math.max(s.txUs, s.remoteMinRxUs) / 1000;
  // 75-100 % of the interval, or 75-90 % with a detect multiplier of 1.
  const spread = s.config.detectMult === 1 ? 0.15 : 0.25;
  return base * (0.75 + spread * Math.min(Math.max(rand, 0), 0.999999));
}

/** The detection time of asynchronous mode (RFC 5880 6.8.4), ms. */
export function detectionTimeMs(s: BfdSessionState): number {
  return (s.remoteDetectMult * Math.max(s.config.requiredMinRxUs, s.remoteDesiredMinTxUs)) / 1000;
}

/** The earliest deadline, for the driver's one timer. */
export function nextDeadline(s: BfdSessionState): number | undefined {
  const ds = [s.nextTxAt, s.detectAt].filter((x): x is number => x !== undefined);
  return ds.length === 0 ? undefined : Math.min(...ds);
}

function moveTo(s: BfdSessionState, to: BfdState, diag: number, actions: BfdAction[]): BfdSessionState {
  if (s.state === to) return s;
  actions.push({ type: 'changed', from: s.state, to, diag });
  // Up: the configured rate, announced with a Poll when it differs; otherwise at most one packet a second.
  const txUs = to === 'Up' ? s.config.desiredMinTxUs : Math.max(s.config.desiredMinTxUs, SLOW_TX_US);
  return { ...s, state: to, diag, txUs, polling: to === 'Up' && txUs !== s.txUs };
}

export function step(s: BfdSessionState, e: BfdEvent, ctx: StepContext): BfdStep {
  const actions: BfdAction[] = [];
  let n = s;
  switch (e.type) {
    case 'AdminDown': {
      n = moveTo(n, 'AdminDown', BfdDiag.AdminDown, actions);
      actions.push({ type: 'send', packet: controlOf(n) });
      return { state: { ...n, nextTxAt: undefined, detectAt: undefined }, actions };
    }
    case 'Tick': {
      if (n.detectAt !== undefined && ctx.now >= n.detectAt) {
        // RFC 5880 6.8.4 and 6.8.1: no valid packet for a detection time.
        if (n.state === 'Init' || n.state === 'Up') n = moveTo(n, 'Down', BfdDiag.DetectionTimeExpired, actions);
        n = { ...n, remoteDiscr: 0, remoteState: 'Down', remoteMinRxUs: 1, remoteDesiredMinTxUs: 0, detectAt: undefined };
        if (actions.length > 0) n = { ...n, nextTxAt: ctx.now };
      }
      if (n.nextTxAt !== undefined && ctx.now >= n.nextTxAt) {
        const iv = txIntervalMs(n, ctx.rand);
        if (iv !== undefined) actions.push({ type: 'send', packet: controlOf(n) });
        n = { ...n, nextTxAt: iv === undefined ? undefined : ctx.now + iv };
      }
      return { state: n, actions };
    }
    case 'Received': {
      const p = e.packet;
      if (n.state === 'AdminDown') return { state: n, actions };
      n = {
        ...n,
        remoteDiscr: p.myDiscr,
        remoteState: p.state,
        remoteMinRxUs: p.requiredMinRxUs,
        remoteDesiredMinTxUs: p.desiredMinTxUs,
        remoteDetectMult: p.detectMult,
        // A Final ends our Poll Sequence (RFC 5880 6.5).
        polling: n.polling && !p.final,
      };
      n = { ...n, detectAt: ctx.now + detectionTimeMs(n) };
      const before = n.state;
      if (p.state === 'AdminDown') {
        if (n.state !== 'Down') n = moveTo(n, 'Down', BfdDiag.NeighborSignaledDown, actions);
      } else if (n.state === 'Down') {
        if (p.state === 'Down') n = moveTo(n, 'Init', BfdDiag.None, actions);
        else if (p.state === 'Init') n = moveTo(n, 'Up', BfdDiag.None, actions);
      } else if (n.state === 'Init') {
        if (p.state === 'Init' || p.state === 'Up') n = moveTo(n, 'Up', BfdDiag.None, actions);
      } else if (p.state === 'Down') n = moveTo(n, 'Down', BfdDiag.NeighborSignaledDown, actions);
      if (p.poll) {
        // RFC 5880 6.8.6: a Poll is answered at once with the Final bit, outside the periodic ones.
        actions.push({ type: 'send', packet: controlOf(n, true) });
      } else if (n.state !== before && n.remoteMinRxUs !== 0) {
        // A state change goes out at once (the peer need not wait a slow second to follow).
        actions.push({ type: 'send', packet: controlOf(n) });
      }
      if (n.state !== before || p.poll) {
        const iv = txIntervalMs(n, ctx.rand);
        n = { ...n, nextTxAt: iv === undefined ? undefined : ctx.now + iv };
      } else if (n.nextTxAt === undefined) n = { ...n, nextTxAt: ctx.now };
      return { state: n, actions };
    }
  }
}
