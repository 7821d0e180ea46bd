import { CeaseSub, Notif } from '../codec/constants.js';
import { assertNever } from '../../util/assert-never.js';
import { negotiate, ourOpen } from './negotiate.js';
import type { FsmAction, FsmEvent, FsmState, PeerConfig, StepResult } from './types.js';

/** RFC 4271 10: the hold time while waiting for the peer's OPEN. */
const OPEN_HOLD_MS = 240_000;
/** Damping of restarts after errors: 1x, 2x, 4x … the connect retry time, at most 64x. */
const MAX_IDLE_HOLD_FACTOR = 64;
const CONNECTION_LOST = 'connection lost';

export function initialState(): FsmState {
  return { name: 'Idle', enabled: false, connectRetryCounter: 0 };
}

const notification = (code: number, subcode: number, data: Uint8Array = new Uint8Array(0)): FsmAction => ({ type: 'send', message: { type: 'notification', code, subcode, data } });

/**
 * The BGP finite state machine (RFC 4271 section 8) as a pure reducer: no sockets, no timers, no clock
 * of its own. Timers are deadlines in the state; the driver sends Tick when the earliest one is due.
 * Passive peers wait in Active for the peer to connect; others connect from Connect.
 */
export function step(c: PeerConfig, s: FsmState, e: FsmEvent, now: number): StepResult {
  const actions: FsmAction[] = [];
  const retryMs = c.connectRetrySeconds * 1000;
  const idle = (reason: string, error: boolean): FsmState => {
    // A connection (or a connection attempt) is closed; only an Established session goes "down".
    if (s.name !== 'Idle' && s.name !== 'Active') actions.push({ type: 'disconnect' });
    // RFC 4724: the peer's routes are kept only when the TCP session is lost, not after a NOTIFICATION.
    if (s.name === 'Established') actions.push({ type: 'down', reason, graceful: s.negotiated?.gracefulRestart === true && reason === CONNECTION_LOST });
    const counter = error ? s.connectRetryCounter + 1 : s.connectRetryCounter;
    const factor = Math.min(MAX_IDLE_HOLD_FACTOR, 2 ** Math.max(0, counter - 1));
    return { name: 'Idle', enabled: s.enabled, connectRetryCounter: counter, ...(s.enabled ? { idleHoldAt: now + retryMs * factor } : {}) };
  };
  const start = (): FsmState => {
    if (c.passive) return { name: 'Active', enabled: true, connectRetryCounter: s.connectRetryCounter, connectRetryAt: now + retryMs };
    actions.push({ type: 'connect' });
    return { name: 'Connect', enabled: true, connectRetryCounter: s.connectRetryCounter, connectRetryAt: now + retryMs };
  };
  const fsmError = (): StepResult => {
    actions.push(notification(Notif.Fsm, 0));
    return { state: idle('sent FSM error', true), actions };
  };

  switch (e.type) {
    case 'ManualStart':
      if (s.name !== 'Idle') return { state: { ...s, enabled: true }, actions };
      return { state: start(), actions };
    case 'ManualStop': {
      if (s.name === 'OpenSent' || s.name === 'OpenConfirm' || s.name === 'Established') actions.push(notification(Notif.Cease, CeaseSub.AdminShutdown));
      idle('stopped by configuration', false);
      return { state: { name: 'Idle', enabled: false, connectRetryCounter: 0 }, actions };
    }
    case 'Tick': {
      if (s.name === 'Idle') {
        if (s.enabled && s.idleHoldAt !== undefined && now >= s.idleHoldAt) return { state: start(), actions };
        return { state: s, actions };
      }
      if (s.holdAt !== undefined && now >= s.holdAt) {
        actions.push(notification(Notif.HoldTimerExpired, 0));
        return { state: idle('hold timer expired', true), actions };
      }
      if ((s.name === 'Connect' || s.name === 'Active') && s.connectRetryAt !== undefined && now >= s.connectRetryAt) {
        if (s.name === 'Connect') actions.push({ type: 'disconnect' });
        if (!c.passive) actions.push({ type: 'connect' });
        return { state: { ...s, name: c.passive ? 'Active' : 'Connect', connectRetryAt: now + retryMs }, actions };
      }
      if ((s.name === 'OpenConfirm' || s.name === 'Established') && s.keepaliveAt !== undefined && now >= s.keepaliveAt) {
        actions.push({ type: 'send', message: { type: 'keepalive' } });
        return { state: { ...s, keepaliveAt: now + (s.negotiated?.keepalive ?? 30) * 1000 }, actions };
      }
      return { state: s, actions };
    }
    case 'TcpConnected': {
      if (s.name !== 'Connect' && s.name !== 'Active') {
        // A second connection while one is open is the driver's collision to resolve.
        return { state: s, actions };
      }
      actions.push({ type: 'send', message: ourOpen(c) });
      const { connectRetryAt: _dropped, ...rest } = s;
      return { state: { ...rest, name: 'OpenSent', holdAt: now + OPEN_HOLD_MS }, actions };
    }
    case 'TcpFails':
      if (s.name === 'Connect' || s.name === 'OpenSent') {
        actions.push({ type: 'disconnect' });
        const { holdAt: _h, ...rest } = s;
        return { state: { ...rest, name: 'Active', connectRetryAt: now + retryMs }, actions };
      }
      if (s.name === 'Active' || s.name === 'Idle') return { state: s, actions };
      return { state: idle(CONNECTION_LOST, true), actions };
    case 'CollisionDump':
      actions.push(notification(Notif.Cease, CeaseSub.CollisionResolution));
      return { state: idle('sent cease: connection collision', false), actions };
    case 'DecodeError':
      actions.push(notification(e.code, e.subcode, e.data));
      return { state: idle(`sent error ${e.code}/${e.subcode}: ${e.reason}`, true), actions };
    case 'Message': {
      const m = e.message;
      if (m.type === 'notification') return { state: idle(`received notification ${m.code}/${m.subcode}`, true), actions };
      switch (s.name) {
        case 'Idle':
        case 'Connect':
        case 'Active':
          return fsmError();
        case 'OpenSent': {
          if (m.type !== 'open') return fsmError();
          const n = negotiate(c, m);
          if (!n.ok) {
            actions.push(notification(n.code, n.subcode));
            return { state: idle(`sent error ${n.code}/${n.subcode}: ${n.reason}`, true), actions };
          }
          actions.push({ type: 'send', message: { type: 'keepalive' } });
          const hold = n.negotiated.holdTime;
          const base = { name: 'OpenConfirm' as const, enabled: s.enabled, connectRetryCounter: s.connectRetryCounter, negotiated: n.negotiated };
          return { state: hold === 0 ? base : { ...base, holdAt: now + hold * 1000, keepaliveAt: now + n.negotiated.keepalive * 1000 }, actions };
        }
        case 'OpenConfirm':
          if (m.type !== 'keepalive') return fsmError();
          actions.push({ type: 'up', negotiated: s.negotiated as NonNullable<FsmState['negotiated']> });
          return { state: { ...s, name: 'Established', connectRetryCounter: 0, ...(s.holdAt !== undefined ? { holdAt: now + (s.negotiated?.holdTime ?? 0) * 1000 } : {}) }, actions };
        case 'Established': {
          const refreshed = s.holdAt !== undefined ? { ...s, holdAt: now + (s.negotiated?.holdTime ?? 0) * 1000 } : s;
          if (m.type === 'keepalive') return { state: refreshed, actions };
          if (m.type === 'update') {
            actions.push({ type: 'deliver', message: m });
            return { state: refreshed, actions };
          }
          if (m.type === 'route-refresh') {
            actions.push({ type: 'deliver', message: m });
            return { state: refreshed, actions };
          }
          return fsmError();
        }
        default:
          return assertNever(s.name, 'state');
      }
    }
    default:
      return assertNever(e, 'event');
  }
}

/** The earliest deadline in a state, for the driver's single timer. */
export function nextDeadline(s: FsmState): number | undefined {
  const ds = [s.connectRetryAt, s.holdAt, s.keepaliveAt, s.idleHoldAt].filter((d): d is number => d !== undefined);
  return ds.length ? Math.min(...ds) : undefined;
}
