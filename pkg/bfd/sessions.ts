/**
 * The BFD sessions of this node, one per peer that asks for it: each is the pure session of fsm.ts
 * driven by one timer on the injected clock, over the transport (real UDP or the fake). Received
 * packets are matched to sessions by our discriminator, or by the sender while the peer does not know
 * it yet (RFC 5880 6.3, RFC 5881 3). A change to one peer's parameters restarts only its session.
 */
import type { Clock, TimerHandle } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';
import type { IP } from '../util/ip.js';
import type { Logger } from '../util/logger.js';
import { detectionTimeMs, initialSession, nextDeadline, step, type BfdEvent, type BfdSessionState, type BfdTimers } from './fsm.js';
import { decodeControl, encodeControl, type BfdState } from './packet.js';
import type { BfdLink, BfdPath, BfdTransport } from './transport.js';

export interface BfdPeer extends BfdPath {
  readonly timers: BfdTimers;
}

export interface BfdStatus {
  readonly remote: IP;
  readonly local: IP;
  readonly hop: BfdPath['hop'];
  readonly state: BfdState;
  readonly remoteState: BfdState;
  readonly diag: number;
  readonly localDiscr: number;
  readonly remoteDiscr: number;
  /** Our transmit interval and the detection time now in force, ms. */
  readonly txIntervalMs: number;
  readonly detectionTimeMs: number;
  readonly upSince?: number;
  /** Times the session went from Up to Down. */
  readonly downs: number;
}

export type BfdChange = (remote: IP, from: BfdState, to: BfdState, diag: number) => void;

export interface BfdCounters {
  /** A datagram that is not a valid packet of one of our sessions (why, in a label-sized word). */
  discarded(reason: 'malformed' | 'unknown-session'): void;
}

interface Session {
  readonly peer: BfdPeer;
  readonly key: string;
  s: BfdSessionState;
  link: BfdLink;
  timer: TimerHandle | undefined;
  upSince: number | undefined;
  downs: number;
}

const peerKey = (p: BfdPeer): string => JSON.stringify([p.remote, p.local, p.port, p.hop, p.timers.desiredMinTxUs, p.timers.requiredMinRxUs, p.timers.detectMult]);

export class BfdSessions {
  private readonly byRemote = new Map<string, Session>();
  private readonly byDiscr = new Map<number, Session>();
  private readonly listeners = new Set<BfdChange>();

  constructor(
    private readonly deps: {
      readonly clock: Clock;
      readonly logger: Logger;
      readonly transport: BfdTransport;
      readonly rand?: () => number;
      readonly counters?: BfdCounters;
    },
  ) {}

  onChange(fn: BfdChange): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Makes the sessions exactly `peers`; a peer whose path cannot be opened is logged and skipped. */
  set(peers: readonly BfdPeer[]): void {
    const want = new Map(peers.map((p) => [p.remote as string, p]));
    for (const [remote, sess] of this.byRemote) {
      const w = want.get(remote);
      if (w && peerKey(w) === sess.key) continue;
      this.remove(sess);
    }
    for (const [remote, peer] of want) {
      if (this.byRemote.has(remote)) continue;
      const localDiscr = this.newDiscr();
      let sess: Session | undefined;
      try {
        const link = this.deps.transport.open(peer, (data, from, port) => this.onPacket(data, from, port));
        sess = { peer, key: peerKey(peer), s: initialSession(localDiscr, peer.timers, this.deps.clock.monotonicMs()), link, timer: undefined, upSince: undefined, downs: 0 };
      } catch (e) {
        this.deps.logger.error('BFD session not started', { peer: remote, error: errorMessage(e) });
        continue;
      }
      this.byRemote.set(remote, sess);
      this.byDiscr.set(localDiscr, sess);
      this.deps.logger.info('BFD session started', { peer: remote, local: peer.local, hop: peer.hop, txMs: peer.timers.desiredMinTxUs / 1000, rxMs: peer.timers.requiredMinRxUs / 1000, multiplier: peer.timers.detectMult });
      this.feed(sess, { type: 'Tick' });
    }
  }

  status(): BfdStatus[] {
    return [...this.byRemote.values()]
      .map((x) => ({
        remote: x.peer.remote,
        local: x.peer.local,
        hop: x.peer.hop,
        state: x.s.state,
        remoteState: x.s.remoteState,
        diag: x.s.diag,
        localDiscr: x.s.localDiscr,
        remoteDiscr: x.s.remoteDiscr,
        txIntervalMs: Math.max(x.s.txUs, x.s.remoteMinRxUs) / 1000,
        detectionTimeMs: detectionTimeMs(x.s),
        ...(x.upSince !== undefined ? { upSince: x.upSince } : {}),
        downs: x.downs,
      }))
      .sort((a, b) => (a.remote < b.remote ? -1 : 1));
  }

  /** Every session signals AdminDown to its peer (which then takes it down at once, not after its detection time) and closes. */
  stop(): void {
    for (const sess of [...this.byRemote.values()]) this.remove(sess);
    this.deps.transport.close();
  }

  private remove(sess: Session): void {
    this.feed(sess, { type: 'AdminDown' });
    if (sess.timer) this.deps.clock.clearTimeout(sess.timer);
    sess.link.close();
    this.byRemote.delete(sess.peer.remote);
    this.byDiscr.delete(sess.s.localDiscr);
    this.deps.logger.info('BFD session removed', { peer: sess.peer.remote });
  }

  private newDiscr(): number {
    const rand = this.deps.rand ?? Math.random;
    for (;;) {
      const d = (Math.floor(rand() * 0xffffffff) + 1) >>> 0;
      if (d !== 0 && !this.byDiscr.has(d)) return d;
    }
  }

  private onPacket(data: Buffer, from: IP, port: number): void {
    const r = decodeControl(data);
    if (!r.ok) {
      this.deps.counters?.discarded('malformed');
      this.deps.logger.v(2, 'BFD packet discarded', { from, reason: r.reason });
      return;
    }
    const p = r.packet;
    // RFC 5880 6.8.6: Your Discriminator selects the session; while it is 0, the sender's address does.
    const sess = p.yourDiscr !== 0 ? this.byDiscr.get(p.yourDiscr) : this.byRemote.get(from);
    if (!sess || sess.peer.remote !== from || sess.peer.port !== port) {
      this.deps.counters?.discarded('unknown-session');
      this.deps.logger.v(2, 'BFD packet for no session of ours', { from, yourDiscr: p.yourDiscr });
      return;
    }
    this.feed(sess, { type: 'Received', packet: p });
  }

  private feed(sess: Session, e: BfdEvent): void {
    const now = this.deps.clock.monotonicMs();
    const r = step(sess.s, e, { now, rand: (this.deps.rand ?? Math.random)() });
    sess.s = r.state;
    for (const a of r.actions) {
      if (a.type === 'send') {
        try {
          sess.link.send(encodeControl(a.packet));
        } catch (err) {
          this.deps.logger.v(1, 'BFD send failed', { peer: sess.peer.remote, error: errorMessage(err) });
        }
        continue;
      }
      if (a.to === 'Up') sess.upSince = this.deps.clock.now();
      if (a.from === 'Up') {
        sess.upSince = undefined;
        sess.downs++;
      }
      this.deps.logger.info('BFD session state changed', { peer: sess.peer.remote, from: a.from, to: a.to, diag: a.diag });
      for (const fn of this.listeners) {
        try {
          fn(sess.peer.remote, a.from, a.to, a.diag);
        } catch (err) {
          this.deps.logger.error('BFD listener failed', { error: errorMessage(err) });
        }
      }
    }
    if (e.type === 'AdminDown') return;
    if (sess.timer) this.deps.clock.clearTimeout(sess.timer);
    sess.timer = undefined;
    const at = nextDeadline(sess.s);
    if (at !== undefined && this.byRemote.get(sess.peer.remote) === sess) {
      sess.timer = this.deps.clock.setTimeout(() => {
        sess.timer = undefined;
        this.feed(sess, { type: 'Tick' });
      }, Math.max(0, at - now));
    }
  }
}
