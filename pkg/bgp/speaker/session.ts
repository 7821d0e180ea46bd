import { connect as tcpConnect, Socket } from 'node:net';
import type { TcpSockets } from '../../linux/tcp-socket.js';
import type { Clock, TimerHandle } from '../../util/clock.js';
import { errorMessage } from '../../util/errors.js';
import { compareIP, familyOf, type IP } from '../../util/ip.js';
import type { Logger } from '../../util/logger.js';
import { CeaseSub, Notif } from '../codec/constants.js';
import { BgpDecodeError } from '../codec/errors.js';
import { decode, encode, frameLength } from '../codec/message.js';
import type { BgpMessage, UpdateMessage } from '../codec/types.js';
import { initialState, nextDeadline, step } from '../fsm/fsm.js';
import { ourOpen } from '../fsm/negotiate.js';
import type { FsmAction, FsmEvent, FsmState, Negotiated, PeerConfig } from '../fsm/types.js';

export interface SessionConfig extends PeerConfig {
  readonly peerAddress: IP;
  readonly peerPort: number;
  /** Source address for our connections (and the next hop we advertise). */
  readonly localAddress?: IP;
  /** TTL of the segments we send (eBGP: 1, or the multihop TTL); the system's default without. */
  readonly ttl?: number;
  /** TCP MD5 key (RFC 2385): set on our connecting socket before its SYN. */
  readonly password?: Uint8Array;
}

export interface SessionEvents {
  up(n: Negotiated): void;
  down(reason: string, graceful: boolean): void;
  update(u: UpdateMessage): void;
  /** A ROUTE-REFRESH: subtype 0 a request, 1 and 2 the peer's Begin and End of a refresh (RFC 7313). */
  refresh(afi: number, safi: number, subtype: number): void;
  /** Every FSM state change, for inspection and metrics. */
  state?(name: FsmState['name']): void;
}

/** Opens a TCP connection to the peer (a seam for MD5: a socket with TCP_MD5SIG set). */
export type Connector = (c: SessionConfig) => Socket;

export const plainConnector: Connector = (c) => tcpConnect({ host: c.peerAddress, port: c.peerPort, ...(c.localAddress ? { localAddress: c.localAddress } : {}) });

/**
 * Connections whose socket needs options before the SYN (a TTL, an MD5 key) are made on a socket we
 * create with them set, then connected by Node; the others are plain.
 */
export function optionConnector(sockets: TcpSockets): Connector {
  return (c) => {
    if (c.ttl === undefined && c.password === undefined) return plainConnector(c);
    const fd = sockets.create(familyOf(c.peerAddress), { ...(c.ttl !== undefined ? { ttl: c.ttl } : {}), ...(c.password ? { md5: { peer: c.peerAddress, key: c.password } } : {}) });
    const socket = new Socket({ fd, readable: true, writable: true });
    socket.connect({ host: c.peerAddress, port: c.peerPort, ...(c.localAddress ? { localAddress: c.localAddress } : {}) });
    return socket;
  };
}

/** How long a collision's second connection may wait for its OPEN (RFC 4271's OpenSent hold time). */
const HELD_ASIDE_MS = 240_000;

/** One TCP connection's byte stream cut into BGP messages. */
class Wire {
  private buf: Buffer = Buffer.alloc(0);
  constructor(
    readonly socket: Socket,
    private readonly onMessage: (m: BgpMessage) => void,
    private readonly onError: (e: BgpDecodeError) => void,
    private readonly fourOctetAs: () => boolean,
  ) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const n = frameLength(this.buf);
      if (n instanceof BgpDecodeError) {
        this.onError(n);
        return;
      }
      if (n === 0) return;
      const bytes = this.buf.subarray(0, n);
      this.buf = this.buf.subarray(n);
      const r = decode(bytes, { fourOctetAs: this.fourOctetAs() });
      if (!r.ok) {
        this.onError(r.error);
        return;
      }
      this.onMessage(r.message);
      if (this.socket.destroyed) return;
    }
  }

  /** False when the message cannot be encoded (too large): nothing is written, the caller decides. */
  send(m: BgpMessage, fourOctetAs: boolean): boolean {
    let bytes: Uint8Array;
    try {
      bytes = encode(m, { fourOctetAs });
    } catch {
      return false;
    }
    if (!this.socket.destroyed) this.socket.write(bytes);
    return true;
  }
}

/**
 * The driver of one BGP session: owns the socket and the one timer, feeds the pure FSM with events
 * and carries out its actions. Connection collision (RFC 4271 6.8): a connection the peer opens while
 * ours is in OpenSent or OpenConfirm is kept aside until its OPEN arrives; then the side with the
 * higher BGP identifier keeps the connection it opened, the other is closed with Cease/7.
 */
export class BgpSession {
  private fsm: FsmState = initialState();
  private wire: Wire | undefined;
  /** A collision's second connection, held until its OPEN arrives, for at most HELD_ASIDE_MS. */
  private pending: { wire: Wire; timer: TimerHandle } | undefined;
  private timer: TimerHandle | undefined;
  private stopped = false;

  constructor(
    private cfg: SessionConfig,
    private readonly deps: { readonly clock: Clock; readonly logger: Logger; readonly connector?: Connector },
    private readonly events: SessionEvents,
  ) {}

  /** Our address on the connection in use (the next hop "self" toward this peer). */
  get localAddress(): IP | undefined {
    const a = this.wire?.socket.localAddress;
    return a ? (a.replace(/^::ffff:/, '') as IP) : undefined;
  }

  get state(): FsmState['name'] {
    return this.fsm.name;
  }

  get negotiated(): Negotiated | undefined {
    return this.fsm.name === 'Established' ? this.fsm.negotiated : undefined;
  }

  get config(): SessionConfig {
    return this.cfg;
  }

  start(): void {
    this.stopped = false;
    this.feed({ type: 'ManualStart' });
  }

  /** Cease (administrative shutdown) and stay down. */
  stop(): void {
    this.feed({ type: 'ManualStop' });
    this.stopped = true;
    this.dropPending(CeaseSub.AdminShutdown);
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * Closes the connection without a NOTIFICATION, as a crash would: with graceful restart the peer
   * keeps our routes (and keeps forwarding) until we are back.
   */
  abort(): void {
    this.stopped = true;
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of [this.wire, this.pending?.wire]) w?.socket.destroy();
    if (this.pending) this.deps.clock.clearTimeout(this.pending.timer);
    this.wire = undefined;
    this.pending = undefined;
    this.fsm = initialState();
  }

  /** Sends an UPDATE (or route refresh) on an Established session; false when it is not up. */
  send(m: UpdateMessage | { readonly type: 'route-refresh'; readonly afi: number; readonly safi: number; readonly subtype: number }): boolean {
    const n = this.negotiated;
    if (!n || !this.wire) return false;
    this.wire.send(m, n.fourOctetAs);
    return true;
  }

  /** A connection the peer opened to us. */
  accept(socket: Socket): void {
    if (this.stopped || !this.fsm.enabled) {
      socket.destroy();
      return;
    }
    const s = this.fsm.name;
    if (s === 'Idle' || s === 'Active') {
      // No connection of ours in flight: take theirs.
      if (this.wire) this.closeWire(this.wire);
      if (s === 'Idle') this.fsm = { ...this.fsm, name: 'Active' };
      this.wire = this.makeWire(socket);
      this.feed({ type: 'TcpConnected' });
      return;
    }
    const wire = this.makeWire(socket);
    if (s === 'Established' || this.pending) {
      // RFC 4271 6.8: an Established session wins over a new connection.
      wire.send({ type: 'notification', code: Notif.Cease, subcode: CeaseSub.ConnectionRejected, data: new Uint8Array(0) }, false);
      this.closeWire(wire);
      return;
    }
    // Connect (ours still connecting), OpenSent or OpenConfirm: a collision; decided once their OPEN on
    // the new connection arrives. (Dropping ours for theirs at once makes both sides drop each other's.)
    this.deps.logger.v(2, 'bgp connection collision: holding the new connection until its OPEN', { peer: this.cfg.peerAddress, state: s });
    // Held aside for at most the time an OPEN may take (RFC 4271 8.2.2: 4 minutes in OpenSent); a peer
    // that never sends one cannot pin the connection.
    this.pending = { wire, timer: this.deps.clock.setTimeout(() => this.dropPending(0), HELD_ASIDE_MS) };
    wire.send(ourOpen(this.cfg), false);
  }

  private makeWire(socket: Socket): Wire {
    const wire: Wire = new Wire(
      socket,
      (m) =>
        this.contained(() => {
          if (wire === this.wire) this.feed({ type: 'Message', message: m });
          else if (wire === this.pending?.wire) this.onPendingMessage(m);
        }),
      (e) =>
        this.contained(() => {
          if (wire === this.wire) this.feed({ type: 'DecodeError', code: e.code, subcode: e.subcode, reason: e.message, ...(e.data ? { data: e.data } : {}) });
          else if (wire === this.pending?.wire) this.dropPending(0);
        }),
      () => this.fsm.negotiated?.fourOctetAs ?? false,
    );
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      wire.push(d);
      // One chunk at a time: a peer's full table (megabytes of UPDATEs) would otherwise be read and
      // parsed in one go, and what it changed (routes to install, other peers' sessions) would wait.
      socket.pause();
      setImmediate(() => {
        if (!socket.destroyed) socket.resume();
      });
    });
    socket.on('error', (e) => this.deps.logger.v(2, 'bgp socket error', { peer: this.cfg.peerAddress, error: e.message }));
    socket.on('close', () => {
      if (wire === this.pending?.wire) this.pending = undefined;
      if (wire !== this.wire) return;
      this.wire = undefined;
      this.feed({ type: 'TcpFails' });
    });
    return wire;
  }

  /**
   * Runs a socket callback inside this session's fault boundary: an exception (ours, or in a handler
   * the speaker gave us) resets this session only, with a log line; it never reaches the process.
   */
  private contained(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.faults++;
      this.deps.logger.error('bgp session fault: this session is reset, the others are not touched', { peer: this.cfg.peerAddress, error: errorMessage(e) });
      const w = this.wire;
      if (!w) return;
      this.wire = undefined;
      try {
        w.send({ type: 'notification', code: Notif.Cease, subcode: CeaseSub.OutOfResources, data: new Uint8Array(0) }, false);
        this.closeWire(w);
        this.feed({ type: 'TcpFails' });
      } catch (again) {
        this.deps.logger.error('bgp session reset failed', { peer: this.cfg.peerAddress, error: errorMessage(again) });
      }
    }
  }

  /** Closes the connection with a Cease NOTIFICATION (e.g. maximum prefixes); the FSM reconnects later. */
  reset(subcode: number, data: Uint8Array = new Uint8Array(0)): void {
    const w = this.wire;
    if (!w) return;
    this.wire = undefined;
    w.send({ type: 'notification', code: Notif.Cease, subcode, data }, false);
    this.closeWire(w);
    this.feed({ type: 'TcpFails' });
  }

  /** Faults contained in this session (handler exceptions), for tests and metrics. */
  faults = 0;

  private onPendingMessage(m: BgpMessage): void {
    const p = this.pending;
    if (!p) return;
    if (m.type !== 'open') {
      this.dropPending(0);
      return;
    }
    // Ours reached Established while theirs waited for its OPEN: an Established session wins over the
    // newer connection (RFC 4271 6.8). Taking theirs here would drop a working session, and the peer,
    // which resolved the same collision the other way, would then close the one we took.
    if (this.fsm.name === 'Established') {
      this.deps.logger.v(2, 'bgp connection collision resolved', { peer: this.cfg.peerAddress, keep: 'ours (Established)' });
      this.dropPending(CeaseSub.CollisionResolution);
      return;
    }
    // Ours never got as far as an OPEN exchange (still connecting, or failed meanwhile): theirs wins.
    const oursInPlay = this.fsm.name === 'OpenSent' || this.fsm.name === 'OpenConfirm';
    const keepOurs = oursInPlay && compareIP(this.cfg.routerId, m.bgpId) > 0;
    this.deps.logger.v(2, 'bgp connection collision resolved', { peer: this.cfg.peerAddress, keep: keepOurs ? 'ours' : 'theirs' });
    if (keepOurs) {
      // We keep the connection we opened.
      this.dropPending(CeaseSub.CollisionResolution);
      return;
    }
    // They keep the connection they opened: close ours, continue on theirs (our OPEN is already sent).
    this.deps.clock.clearTimeout(p.timer);
    this.pending = undefined;
    const old = this.wire;
    this.wire = p.wire;
    if (old) {
      if (oursInPlay) old.send({ type: 'notification', code: Notif.Cease, subcode: CeaseSub.CollisionResolution, data: new Uint8Array(0) }, false);
      this.closeWire(old);
    }
    this.fsm = { name: 'OpenSent', enabled: true, connectRetryCounter: this.fsm.connectRetryCounter, holdAt: this.deps.clock.monotonicMs() + 240_000 };
    this.feed({ type: 'Message', message: m });
  }

  private dropPending(subcode: number): void {
    const p = this.pending;
    if (!p) return;
    this.deps.clock.clearTimeout(p.timer);
    this.pending = undefined;
    this.deps.logger.v(2, 'bgp held-aside connection closed', { peer: this.cfg.peerAddress, subcode });
    if (subcode > 0) p.wire.send({ type: 'notification', code: Notif.Cease, subcode, data: new Uint8Array(0) }, false);
    this.closeWire(p.wire);
  }

  private closeWire(w: Wire): void {
    w.socket.end();
    const t = setTimeout(() => w.socket.destroy(), 1000);
    t.unref();
  }

  private feed(e: FsmEvent): void {
    const now = this.deps.clock.monotonicMs();
    const before = this.fsm.name;
    let r: { state: FsmState; actions: readonly FsmAction[] };
    try {
      r = step(this.cfg, this.fsm, e, now);
    } catch (err) {
      this.deps.logger.error('bgp fsm failed', { peer: this.cfg.peerAddress, error: errorMessage(err) });
      return;
    }
    this.fsm = r.state;
    for (const a of r.actions) this.act(a);
    if (this.fsm.name !== before) {
      this.deps.logger.v(1, 'bgp session state', { peer: this.cfg.peerAddress, from: before, to: this.fsm.name });
      this.events.state?.(this.fsm.name);
    }
    this.arm();
  }

  private act(a: FsmAction): void {
    switch (a.type) {
      case 'connect': {
        let socket: Socket;
        try {
          socket = (this.deps.connector ?? plainConnector)(this.cfg);
        } catch (e) {
          // (a socket option the kernel refuses): this attempt fails; the FSM retries after ConnectRetry.
          this.deps.logger.warn('bgp connection could not be opened', { peer: this.cfg.peerAddress, error: errorMessage(e) });
          queueMicrotask(() => this.contained(() => this.feed({ type: 'TcpFails' })));
          return;
        }
        const wire = this.makeWire(socket);
        this.wire = wire;
        socket.on('connect', () => {
          if (this.wire === wire) this.feed({ type: 'TcpConnected' });
        });
        return;
      }
      case 'disconnect':
        if (this.wire) {
          const w = this.wire;
          this.wire = undefined;
          this.closeWire(w);
        }
        return;
      case 'send':
        this.wire?.send(a.message, this.fsm.negotiated?.fourOctetAs ?? false);
        return;
      case 'up':
        this.events.up(a.negotiated);
        return;
      case 'down':
        this.events.down(a.reason, a.graceful);
        return;
      case 'deliver':
        if (a.message.type === 'update') this.events.update(a.message);
        else this.events.refresh(a.message.afi, a.message.safi, a.message.subtype);
        return;
    }
  }

  private arm(): void {
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopped) return;
    const at = nextDeadline(this.fsm);
    if (at === undefined) return;
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = undefined;
      this.feed({ type: 'Tick' });
    }, Math.max(0, at - this.deps.clock.monotonicMs()));
  }
}

