import { createServer, type Server, type Socket } from 'node:net';
import type { Clock, TimerHandle } from '../../util/clock.js';
import { errorMessage } from '../../util/errors.js';
import { familyOf, tryParseIP, type CIDR, type Family, type IP } from '../../util/ip.js';
import type { Logger } from '../../util/logger.js';
import { Afi, CeaseSub, MAX_MESSAGE_LEN, Safi } from '../codec/constants.js';
import { encodedSize } from '../codec/message.js';
import type { Capability, UpdateMessage } from '../codec/types.js';
import type { FsmState, Negotiated } from '../fsm/types.js';
import { better, endOfRib, importFilter, rechooseBest, isEndOfRib, pathsOf, updatesFor, type ImportVerdict, type LearnedPath, type PeerRib, type OutPath, type UpdateBudget } from './rib.js';
import { BgpSession, optionConnector, type Connector } from './session.js';
import type { TcpMd5 } from '../../linux/tcp-md5.js';
import type { TcpSockets } from '../../linux/tcp-socket.js';
import type { BfdTimers } from '../../bfd/fsm.js';
import type { BfdPeer, BfdSessions, BfdStatus } from '../../bfd/sessions.js';

export interface PeerSpec {
  readonly address: IP;
  readonly asn: number;
  readonly port: number;
  /** TCP MD5 (RFC 2385) password: on our listening sockets for this peer, and on our connecting ones. */
  readonly password?: Uint8Array;
  /** TTL of the segments we send to this peer (eBGP: 1 unless multihop); the system's default without. */
  readonly ttl?: number;
  /** Our source address toward this peer (`localip`); the node's session address without. */
  readonly localAddress?: IP;
  /** node: another node of the cluster (the iBGP mesh); external: a router outside it. */
  readonly kind: 'node' | 'external';
  /** We reflect routes to and from this peer (we are its route reflector, RFC 4456). */
  readonly rrClient?: boolean;
  readonly passive?: boolean;
  /** Most prefixes accepted from this peer (overrides the speaker's); 0: no limit. */
  readonly maxPrefixes?: number;
  /** A BFD session watches the path to this peer; its Down closes the BGP session and drops its routes. */
  readonly bfd?: PeerBfd;
}

export interface PeerBfd {
  readonly timers: BfdTimers;
  /** The destination port: 3784 (single hop) unless configured; 4784 for multihop (RFC 5883). */
  readonly port: number;
  readonly hop: 'single' | 'multi';
}

/** A prefix we originate, and to whom. */
function sameOrigination(a: Origination, b: Origination): boolean {
  return a.prefix === b.prefix && a.to === b.to && a.communities.length === b.communities.length && a.communities.every((c, i) => c === b.communities[i]) && a.prepend?.asn === b.prepend?.asn && a.prepend?.count === b.prepend?.count;
}

/** What a peer's export depends on besides the routes: iBGP or not, and the families its session carries. */
interface ExportContext {
  readonly ibgp: boolean;
  readonly families: ReadonlySet<Family>;
}

export interface Origination {
  readonly prefix: CIDR;
  readonly communities: readonly number[];
  /** all peers, only the cluster's nodes (pod CIDRs without --advertise-pod-cidr), or only external peers (service VIPs, as upstream). */
  readonly to: 'all' | 'nodes' | 'external';
  /** AS path prepend for external peers (`kube-router.io/path-prepend.*`). */
  readonly prepend?: { readonly asn: number; readonly count: number };
}

export interface SpeakerConfig {
  readonly localAs: number;
  readonly routerId: IP;
  readonly listenPort: number;
  /** Addresses to listen on; empty: do not listen (only connect). */
  readonly listenAddresses: readonly IP[];
  readonly holdTime: number;
  readonly connectRetrySeconds: number;
  readonly gracefulRestart: { readonly enabled: boolean; readonly timeSeconds: number };
  /** Never imported (service VIP ranges, customimportreject); a default route never is. */
  readonly importReject: readonly CIDR[];
  /** Our next hop per family (the node's address, or the --iface one). */
  readonly nextHop: Partial<Record<Family, IP>>;
  /** `--override-nexthop`: toward external peers the next hop is our address on that session (next-hop-self). */
  readonly nextHopSelfExternal?: boolean;
  /** Source address of our sessions per family, when it differs from the next hop. */
  readonly sessionAddress?: Partial<Record<Family, IP>>;
  /** Set when this node is a route reflector: its cluster id (RFC 4456). */
  readonly rrClusterId?: IP;
  /** Most prefixes accepted per peer before its session is closed (RFC 4486 Cease/1); 0: no limit. */
  readonly maxPrefixes?: number;
}

/** How long a peer may take between Begin and End of a route refresh before its stale routes go (RFC 7313 4). */
const REFRESH_STALE_MS = 300_000;

export interface PeerStatus {
  readonly address: IP;
  readonly asn: number;
  readonly kind: PeerSpec['kind'];
  readonly state: FsmState['name'];
  readonly received: number;
  readonly accepted: number;
  readonly advertised: number;
  readonly uptimeSince?: number;
  /** The peer's BFD session, when it has one. */
  readonly bfd?: BfdStatus;
}

interface Peer {
  spec: PeerSpec;
  session: BgpSession;
  adjIn: Map<string, LearnedPath>;
  adjOut: Map<string, OutPath>;
  negotiated: Negotiated | undefined;
  staleTimer: TimerHandle | undefined;
  received: number;
  upSince: number | undefined;
  eor: boolean;
}

const ribOf = (p: Peer): PeerRib => ({ address: p.spec.address, adjIn: p.adjIn });

// (BFD is not in it: a change of BFD parameters restarts the BFD session, not the BGP one.)
const specKey = (p: PeerSpec): string => JSON.stringify([p.address, p.asn, p.port, p.password ? Buffer.from(p.password).toString('hex') : '', p.kind, p.rrClient ?? false, p.passive ?? false, p.ttl ?? 0, p.localAddress ?? '']);

/** What a change of the learned best paths touched: these prefixes, or possibly any (a whole table went). */
export type BestChange = { readonly kind: 'prefixes'; /** The listener's to keep and change (a new set is made for the next change). */ readonly prefixes: Set<string> } | { readonly kind: 'all' };

/** Upstream's advertisement counters, fed as UPDATEs go out and come in (the caller owns the metrics). */
export interface SpeakerCounters {
  received(prefixes: number): void;
  sent(kind: 'pod-route' | 'advertise-vip' | 'withdraw-vip', prefixes: number): void;
}

/**
 * Our BGP speaker: one session per peer, Adj-RIB-In per peer with the import policy, best path per
 * prefix, and per-peer Adj-RIB-Out kept in step with what we originate (and reflect). A change to one
 * peer's configuration restarts only that peer's session.
 */
export class BgpSpeaker {
  private readonly peers = new Map<string, Peer>();
  /** What we originate, by prefix (in the order given). */
  private originationsByPrefix = new Map<string, Origination[]>();
  private servers: Server[] = [];
  private readonly listeners = new Set<(c: BestChange) => void>();
  private readonly offBfd: (() => void) | undefined;
  /** What changed since the listeners were last told: these prefixes, or anything. */
  private pending: Set<string> | 'all' | undefined;
  private notifyQueued = false;
  private bestCache: Map<string, LearnedPath> | undefined;

  constructor(
    private readonly cfg: SpeakerConfig,
    private readonly deps: { readonly clock: Clock; readonly logger: Logger; readonly connector?: Connector; readonly md5?: TcpMd5; readonly sockets?: TcpSockets; readonly counters?: SpeakerCounters; readonly bfd?: BfdSessions },
  ) {
    const sockets = deps.sockets;
    this.importFilter = importFilter({ localAs: cfg.localAs, routerId: cfg.routerId, reject: cfg.importReject });
    // RFC 5882 4.3: the forwarding path to the peer failed; the BGP session follows at once.
    this.offBfd = deps.bfd?.onChange((remote, from, to) => {
      if (from === 'Up' && to === 'Down') this.onBfdDown(remote);
    });
    this.sessionDeps = { clock: deps.clock, logger: deps.logger, ...(deps.connector ? { connector: deps.connector } : sockets ? { connector: optionConnector(sockets) } : {}) };
  }

  private readonly importFilter: (p: LearnedPath) => ImportVerdict;

  /** What each session gets: our connector sets the TTL and MD5 key before the SYN. */
  private readonly sessionDeps: { readonly clock: Clock; readonly logger: Logger; readonly connector?: Connector };

  async start(): Promise<void> {
    for (const addr of this.cfg.listenAddresses) {
      const server = createServer((s) => this.onIncoming(s));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: addr, port: this.cfg.listenPort }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (e) => this.deps.logger.warn('bgp listener error', { error: e.message }));
      this.servers.push(server);
    }
  }

  /** With `graceful`, sessions are dropped without a NOTIFICATION so that peers keep our routes (RFC 4724). */
  async stop(opts: { readonly graceful?: boolean } = {}): Promise<void> {
    for (const p of this.peers.values()) {
      if (opts.graceful) {
        p.session.abort();
        if (p.staleTimer) this.deps.clock.clearTimeout(p.staleTimer);
      } else this.stopPeer(p);
    }
    this.peers.clear();
    this.offBfd?.();
    this.deps.bfd?.stop();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.servers = [];
  }

  /**
   * Called (once per burst of UPDATEs, after them) when learned best paths change, with the prefixes
   * whose best path may differ, or `all` when a session's whole table went or was marked stale.
   */
  onBestChange(fn: (c: BestChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Makes the peer set exactly `specs`: new peers start, gone ones stop, changed ones restart; others are untouched. */
  setPeers(specs: readonly PeerSpec[]): void {
    const want = new Map(specs.map((s) => [s.address as string, s]));
    for (const [addr, p] of this.peers) {
      const w = want.get(addr);
      if (w && specKey(w) === specKey(p.spec)) continue;
      this.stopPeer(p);
      this.peers.delete(addr);
      if (p.spec.password !== undefined) this.setMd5(p.spec.address, undefined);
      this.deps.logger.info('bgp peer removed', { peer: addr });
    }
    for (const [addr, spec] of want) {
      if (this.peers.has(addr)) continue;
      if (spec.password !== undefined) {
        // RFC 2385: the key goes on our listening sockets (for the peer's connections) and, by the
        // connector, on each socket we connect from, so the session comes up whichever side opens it.
        try {
          if (!this.deps.md5) throw new Error('no TCP MD5 support in this process');
          this.setMd5(spec.address, spec.password);
        } catch (e) {
          this.deps.logger.error('bgp peer with a TCP MD5 password skipped', { peer: addr, error: errorMessage(e) });
          continue;
        }
      }
      const localAddress = spec.localAddress ?? (this.cfg.sessionAddress ?? this.cfg.nextHop)[familyOf(spec.address)];
      // The session's events refer to the peer record that holds the session.
      const session: BgpSession = new BgpSession(
        {
          localAs: this.cfg.localAs,
          peerAs: spec.asn,
          routerId: this.cfg.routerId,
          holdTime: this.cfg.holdTime,
          connectRetrySeconds: this.cfg.connectRetrySeconds,
          passive: spec.passive ?? false,
          capabilities: this.capabilities(),
          peerAddress: spec.address,
          peerPort: spec.port,
          ...(localAddress ? { localAddress } : {}),
          ...(spec.ttl !== undefined ? { ttl: spec.ttl } : {}),
          ...(spec.password ? { password: spec.password } : {}),
        },
        this.sessionDeps,
        {
          up: (n) => this.onUp(peer, n),
          down: (reason, graceful) => this.onDown(peer, reason, graceful),
          update: (u) => this.onUpdate(peer, u),
          refresh: (afi, safi, subtype) => this.onRefresh(peer, afi, safi, subtype),
        },
      );
      const peer: Peer = { spec, session, adjIn: new Map(), adjOut: new Map(), received: 0, negotiated: undefined, staleTimer: undefined, upSince: undefined, eor: false };
      this.peers.set(addr, peer);
      this.deps.logger.info('bgp peer added', { peer: addr, asn: spec.asn, kind: spec.kind });
      peer.session.start();
    }
    this.syncBfd();
  }

  /** One BFD session per peer that asks for one, from our address toward it; none: no BFD socket open. */
  private syncBfd(): void {
    const bfd = this.deps.bfd;
    if (!bfd) {
      if ([...this.peers.values()].some((p) => p.spec.bfd)) this.deps.logger.warn('BFD asked for but not available in this process', {});
      return;
    }
    const want: BfdPeer[] = [];
    for (const p of this.peers.values()) {
      const b = p.spec.bfd;
      const local = p.spec.localAddress ?? (this.cfg.sessionAddress ?? this.cfg.nextHop)[familyOf(p.spec.address)];
      if (!b) continue;
      if (!local) {
        this.deps.logger.warn('BFD: no local address toward the peer; no BFD session', { peer: p.spec.address });
        continue;
      }
      want.push({ remote: p.spec.address, local, port: b.port, hop: b.hop, timers: b.timers });
    }
    bfd.set(want);
  }

  private onBfdDown(remote: IP): void {
    const p = this.peers.get(remote);
    if (!p) return;
    this.deps.logger.warn('BFD says the peer is down: BGP session closed, its routes withdrawn', { peer: remote });
    // Not graceful: the peer's forwarding is gone, its routes must not be kept as stale ones.
    p.session.reset(CeaseSub.BfdDown);
    if (p.staleTimer) this.deps.clock.clearTimeout(p.staleTimer);
    p.staleTimer = undefined;
    if (p.adjIn.size > 0) {
      p.adjIn.clear();
      this.changed();
    }
  }

  /** What we originate. Only the prefixes whose originations changed are exported again. */
  setOriginations(list: readonly Origination[]): void {
    const next = new Map<string, Origination[]>();
    for (const o of list) {
      const same = next.get(o.prefix);
      if (same) same.push(o);
      else next.set(o.prefix, [o]);
    }
    const changed = new Set<string>();
    for (const [k, os] of next) {
      const had = this.originationsByPrefix.get(k);
      if (!had || had.length !== os.length || !os.every((o, i) => sameOrigination(o, had[i] as Origination))) changed.add(k);
    }
    for (const k of this.originationsByPrefix.keys()) if (!next.has(k)) changed.add(k);
    if (changed.size === 0) return;
    this.originationsByPrefix = next;
    for (const p of this.peers.values()) this.advertisePrefixes(p, changed);
  }

  /** The best learned path per prefix (not our own originations). */
  best(): ReadonlyMap<string, LearnedPath> {
    if (this.bestCache) return this.bestCache;
    const out = new Map<string, LearnedPath>();
    for (const p of this.peers.values()) {
      for (const [k, path] of p.adjIn) {
        const cur = out.get(k);
        if (!cur || better(path, cur)) out.set(k, path);
      }
    }
    this.bestCache = out;
    return out;
  }

  status(): PeerStatus[] {
    const bfd = new Map((this.deps.bfd?.status() ?? []).map((b) => [b.remote as string, b]));
    return [...this.peers.values()]
      .map((p) => {
        const b = bfd.get(p.spec.address);
        return {
          address: p.spec.address,
          asn: p.spec.asn,
          kind: p.spec.kind,
          state: p.session.state,
          received: p.received,
          accepted: p.adjIn.size,
          advertised: p.adjOut.size,
          ...(p.upSince !== undefined ? { uptimeSince: p.upSince } : {}),
          ...(b ? { bfd: b } : {}),
        };
      })
      .sort((a, b) => (a.address < b.address ? -1 : 1));
  }

  /** Asks every established peer to send its routes again (route refresh, RFC 2918). */
  refreshAll(): void {
    for (const p of this.peers.values()) {
      if (!p.negotiated?.routeRefresh) continue;
      for (const f of p.negotiated.families) p.session.send({ type: 'route-refresh', afi: f.afi, safi: f.safi, subtype: 0 });
    }
  }

  private setMd5(peer: IP, key: Uint8Array | undefined): void {
    const md5 = this.deps.md5;
    if (!md5) return;
    for (const server of this.servers) {
      const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
      const addr = server.address();
      if (fd === undefined || addr === null || typeof addr === 'string') continue;
      if ((addr.family === 'IPv6') !== (familyOf(peer) === 6)) continue;
      md5.setKey(fd, peer, key);
    }
  }

  private capabilities(): Capability[] {
    const families = [...(this.cfg.nextHop[4] ? [{ afi: Afi.IPv4, safi: Safi.Unicast }] : []), ...(this.cfg.nextHop[6] ? [{ afi: Afi.IPv6, safi: Safi.Unicast }] : [])];
    return [
      ...families.map((f) => ({ kind: 'multiprotocol' as const, ...f })),
      { kind: 'route-refresh' },
      { kind: 'enhanced-route-refresh' },
      { kind: 'four-octet-as', asn: this.cfg.localAs },
      ...(this.cfg.gracefulRestart.enabled ? [{ kind: 'graceful-restart' as const, restarting: false, notification: false, time: this.cfg.gracefulRestart.timeSeconds, families: families.map((f) => ({ ...f, forwardingPreserved: true })) }] : []),
    ];
  }

  private onIncoming(socket: Socket): void {
    const remote = tryParseIP((socket.remoteAddress ?? '').replace(/^::ffff:/, ''));
    const peer = remote ? this.peers.get(remote) : undefined;
    if (!peer) {
      this.deps.logger.v(1, 'bgp connection from an unknown address refused', { from: socket.remoteAddress });
      socket.destroy();
      return;
    }
    const ttl = peer.spec.ttl;
    if (ttl !== undefined && this.deps.sockets) {
      // The peer opened it: from now on our segments carry the peer's TTL too.
      const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
      try {
        if (fd !== undefined && fd >= 0) this.deps.sockets.setTtl(fd, familyOf(peer.spec.address), ttl);
      } catch (e) {
        this.deps.logger.warn('bgp: TTL not set on an accepted connection; refused', { peer: peer.spec.address, error: errorMessage(e) });
        socket.destroy();
        return;
      }
    }
    peer.session.accept(socket);
  }

  private stopPeer(p: Peer): void {
    p.session.stop();
    if (p.staleTimer) this.deps.clock.clearTimeout(p.staleTimer);
    if (p.adjIn.size > 0) {
      p.adjIn.clear();
      this.changed();
    }
  }

  private onUp(p: Peer, n: Negotiated): void {
    p.negotiated = n;
    p.upSince = this.deps.clock.now();
    p.adjOut = new Map();
    this.deps.logger.info('bgp session established', { peer: p.spec.address, asn: n.peerAs, hold: n.holdTime, families: n.families.map((f) => `${f.afi}/${f.safi}`).join(',') });
    this.advertise(p);
    for (const f of n.families) if (f.safi === Safi.Unicast) p.session.send(endOfRib(f.afi === Afi.IPv6 ? 6 : 4));
  }

  private onDown(p: Peer, reason: string, graceful: boolean): void {
    this.deps.logger.info('bgp session down', { peer: p.spec.address, reason, graceful });
    p.negotiated = undefined;
    p.upSince = undefined;
    p.eor = false;
    p.adjOut = new Map();
    if (graceful && this.cfg.gracefulRestart.enabled && p.adjIn.size > 0) {
      // RFC 4724: keep forwarding on the peer's routes while it restarts; drop them if it does not return in time.
      for (const [k, path] of p.adjIn) p.adjIn.set(k, { ...path, stale: true });
      if (p.staleTimer) this.deps.clock.clearTimeout(p.staleTimer);
      p.staleTimer = this.deps.clock.setTimeout(() => this.dropStale(p, 'graceful restart time ended'), this.cfg.gracefulRestart.timeSeconds * 1000);
      this.changed();
      return;
    }
    if (p.adjIn.size > 0) {
      p.adjIn.clear();
      this.changed();
    }
  }

  private dropStale(p: Peer, why: string): void {
    if (p.staleTimer) this.deps.clock.clearTimeout(p.staleTimer);
    p.staleTimer = undefined;
    let n = 0;
    for (const [k, path] of [...p.adjIn]) {
      if (!path.stale) continue;
      p.adjIn.delete(k);
      n++;
    }
    if (n > 0) {
      this.deps.logger.info('bgp stale routes removed', { peer: p.spec.address, routes: n, why });
      this.changed();
    }
  }

  private onUpdate(p: Peer, u: UpdateMessage): void {
    const n = p.negotiated;
    if (!n) return;
    if (isEndOfRib(u)) {
      p.eor = true;
      this.dropStale(p, 'end of RIB received');
      return;
    }
    for (const e of u.errors ?? []) this.deps.logger.warn('bgp update attribute error (RFC 7606)', { peer: p.spec.address, handling: e.handling, reason: e.reason });
    const ibgp = n.peerAs === this.cfg.localAs;
    const { reach, withdraw } = pathsOf(u, { peer: p.spec.address, peerId: n.peerId, ibgp });
    this.deps.logger.v(2, 'bgp update received', { peer: p.spec.address, reach: reach.length, withdraw: withdraw.length, attributes: u.attributes.map((a) => a.type).join(',') });
    const touched: string[] = [];
    for (const w of withdraw) if (p.adjIn.delete(w)) touched.push(w);
    if (reach.length > 0) this.deps.counters?.received(reach.length);
    for (const path of reach) {
      p.received++;
      const v = this.importFilter(path);
      if (!v.ok) {
        this.deps.logger.v(1, 'bgp route not imported', { peer: p.spec.address, prefix: path.prefix, reason: v.reason });
        if (p.adjIn.delete(path.prefix)) touched.push(path.prefix);
        continue;
      }
      p.adjIn.set(path.prefix, path);
      touched.push(path.prefix);
    }
    // A peer that sends more than its limit loses its session and its routes (RFC 4486 Cease/1), not
    // our memory and FIB.
    const limit = p.spec.maxPrefixes ?? this.cfg.maxPrefixes ?? 0;
    if (limit > 0 && p.adjIn.size > limit) {
      this.deps.logger.error('bgp peer sent more prefixes than its limit: session closed, its routes withdrawn', { peer: p.spec.address, limit, received: p.adjIn.size });
      const data = new Uint8Array(7);
      new DataView(data.buffer).setUint16(0, Afi.IPv4);
      data[2] = Safi.Unicast;
      new DataView(data.buffer).setUint32(3, limit);
      p.adjIn.clear();
      this.changed();
      p.session.reset(CeaseSub.MaxPrefixes, data);
      return;
    }
    if (touched.length > 0) this.changed(touched, p);
  }

  /**
   * The best paths changed: for `prefixes` only (each one's best is chosen again among the peers), or
   * for anything (without an argument). Listeners hear of it once, after the current burst.
   */
  private changed(prefixes?: readonly string[], from?: Peer): void {
    if (prefixes === undefined) {
      this.bestCache = undefined;
      this.pending = 'all';
    } else {
      const best = this.bestCache;
      if (best) {
        const ribs = [...this.peers.values()].map(ribOf);
        const changedRib = from ? ribOf(from) : undefined;
        for (const k of prefixes) rechooseBest(best, k, ribs, changedRib);
      }
      if (this.pending !== 'all') {
        const set = this.pending ?? new Set<string>();
        for (const k of prefixes) set.add(k);
        this.pending = set;
      }
    }
    // A reflector re-exports what changed: only those prefixes, so a burst of UPDATEs costs each
    // peer the prefixes it carried, not its whole table per message.
    if (this.cfg.rrClusterId) {
      for (const p of this.peers.values()) {
        if (prefixes === undefined) this.advertise(p);
        else this.advertisePrefixes(p, prefixes);
      }
    }
    if (this.notifyQueued) return;
    this.notifyQueued = true;
    queueMicrotask(() => {
      this.notifyQueued = false;
      const c: BestChange = this.pending === 'all' || this.pending === undefined ? { kind: 'all' } : { kind: 'prefixes', prefixes: this.pending };
      this.pending = undefined;
      for (const fn of this.listeners) {
        try {
          fn(c.kind === 'prefixes' && this.listeners.size > 1 ? { kind: 'prefixes', prefixes: new Set(c.prefixes) } : c);
        } catch (e) {
          this.deps.logger.error('bgp route listener failed', { error: errorMessage(e) });
        }
      }
    });
  }

  /** Whether a peer is iBGP and which families its session carries; undefined before it is up. */
  private exportContext(p: Peer): ExportContext | undefined {
    const n = p.negotiated;
    if (!n) return undefined;
    return { ibgp: p.spec.asn === this.cfg.localAs, families: new Set(n.families.map((f) => (f.afi === Afi.IPv6 ? 6 : 4))) };
  }

  /** One of our originations as a peer gets it, or undefined when it is not for that peer. */
  private originated(p: Peer, o: Origination, c: ExportContext): OutPath | undefined {
    if (o.to === 'nodes' && p.spec.kind !== 'node') return undefined;
    if (o.to === 'external' && p.spec.kind !== 'external') return undefined;
    const f = familyOf(o.prefix);
    const nh = this.nextHopFor(p, f);
    if (!c.families.has(f) || !nh) return undefined;
    const prepend = !c.ibgp && o.prepend ? Array.from({ length: o.prepend.count }, () => o.prepend?.asn ?? this.cfg.localAs) : [];
    return { prefix: o.prefix, nextHop: nh, asPath: c.ibgp ? [] : [this.cfg.localAs, ...prepend], origin: 0, ...(c.ibgp ? { localPref: 100 } : {}), communities: o.communities };
  }

  /** Route reflection (RFC 4456 8): a learned best path as a peer gets it (from a client to everyone, from a non-client to clients), or undefined. */
  private reflected(p: Peer, path: LearnedPath, c: ExportContext): OutPath | undefined {
    const cluster = this.cfg.rrClusterId;
    if (!cluster || !c.ibgp || !path.ibgp || path.peer === p.spec.address || !c.families.has(familyOf(path.prefix))) return undefined;
    const from = this.peers.get(path.peer);
    if (!(from?.spec.rrClient || p.spec.rrClient)) return undefined;
    return {
      prefix: path.prefix,
      nextHop: path.nextHop,
      asPath: path.asPath,
      origin: path.origin,
      localPref: path.localPref ?? 100,
      ...(path.med !== undefined ? { med: path.med } : {}),
      communities: path.communities,
      originatorId: path.originatorId ?? path.peerId,
      clusterList: [cluster, ...(path.clusterList ?? [])],
    };
  }

  /** What a peer should have from us now. */
  private exportFor(p: Peer): Map<string, OutPath> {
    const out = new Map<string, OutPath>();
    const c = this.exportContext(p);
    if (!c) return out;
    for (const os of this.originationsByPrefix.values()) {
      for (const o of os) {
        const v = this.originated(p, o, c);
        if (v) out.set(o.prefix, v);
      }
    }
    if (this.cfg.rrClusterId && c.ibgp) {
      for (const [k, path] of this.best()) {
        if (out.has(k)) continue;
        const v = this.reflected(p, path, c);
        if (v) out.set(k, v);
      }
    }
    return out;
  }

  /** What a peer should have from us now for one prefix: what exportFor would hold for it. */
  private exportOne(p: Peer, k: string, c: ExportContext): OutPath | undefined {
    let v: OutPath | undefined;
    for (const o of this.originationsByPrefix.get(k) ?? []) v = this.originated(p, o, c) ?? v;
    if (v) return v;
    const path = this.cfg.rrClusterId && c.ibgp ? this.best().get(k) : undefined;
    return path ? this.reflected(p, path, c) : undefined;
  }

  /**
   * The next hop of our routes to a peer: the node's (or --iface) address, or with --override-nexthop
   * toward an external peer our address on that session, when it is of the route's family (an IPv6
   * route over an IPv4 session keeps the node's IPv6 address).
   */
  private nextHopFor(p: Peer, f: Family): IP | undefined {
    if (this.cfg.nextHopSelfExternal && p.spec.kind === 'external') {
      const local = p.session.localAddress;
      if (local && familyOf(local) === f) return local;
    }
    return this.cfg.nextHop[f];
  }

  /** UPDATEs measured with this session's options under the 4,096-byte limit. */
  private budget(n: Negotiated): UpdateBudget {
    return { size: (u) => encodedSize(u, { fourOctetAs: n.fourOctetAs }), max: MAX_MESSAGE_LEN };
  }

  /** Sends the difference; a route whose attributes cannot fit a message is not advertised (and said so once). */
  private sendDiff(p: Peer, n: Negotiated, before: ReadonlyMap<string, OutPath>, next: Map<string, OutPath>): void {
    const r = updatesFor(before, next, this.budget(n));
    for (const prefix of r.unsent) next.delete(prefix);
    if (r.unsent.length > 0) this.deps.logger.warn('bgp routes not advertised: their attributes do not fit one UPDATE', { peer: p.spec.address, routes: r.unsent.length, first: r.unsent[0] });
    for (const u of r.updates) p.session.send(u);
  }

  /** advertise() for some prefixes only: the rest of the peer's Adj-RIB-Out stays as it is. */
  private advertisePrefixes(p: Peer, prefixes: Iterable<string>): void {
    const n = p.negotiated;
    const c = this.exportContext(p);
    if (!n || !c) return;
    const before = new Map<string, OutPath>();
    const next = new Map<string, OutPath>();
    const keys = new Set(prefixes);
    for (const k of keys) {
      const had = p.adjOut.get(k);
      if (had) before.set(k, had);
      const want = this.exportOne(p, k, c);
      if (want) next.set(k, want);
    }
    this.sendDiff(p, n, before, next);
    this.count(before, next);
    for (const k of keys) {
      const v = next.get(k);
      if (v) p.adjOut.set(k, v);
      else p.adjOut.delete(k);
    }
  }

  private advertise(p: Peer): void {
    const n = p.negotiated;
    if (!n) return;
    const next = this.exportFor(p);
    this.sendDiff(p, n, p.adjOut, next);
    this.count(p.adjOut, next);
    p.adjOut = next;
  }

  private count(before: ReadonlyMap<string, OutPath>, after: ReadonlyMap<string, OutPath>): void {
    const c = this.deps.counters;
    if (!c) return;
    const isVip = (k: string): boolean => this.originationsByPrefix.get(k)?.some((o) => o.to === 'external') ?? false;
    let podRoute = 0;
    let advertiseVip = 0;
    let withdrawVip = 0;
    for (const [k, path] of after) {
      if (before.get(k) === path) continue;
      if (isVip(k)) advertiseVip++;
      else podRoute++;
    }
    // A withdrawn host route is a VIP (pod CIDRs are never /32 or /128).
    for (const k of before.keys()) if (!after.has(k) && /\/(32|128)$/.test(k)) withdrawVip++;
    if (podRoute > 0) c.sent('pod-route', podRoute);
    if (advertiseVip > 0) c.sent('advertise-vip', advertiseVip);
    if (withdrawVip > 0) c.sent('withdraw-vip', withdrawVip);
  }

  private onRefresh(p: Peer, afi: number, safi: number, subtype: number): void {
    const n = p.negotiated;
    if (!n) return;
    const family: Family = afi === Afi.IPv6 ? 6 : 4;
    if (subtype === 1) {
      // The peer begins re-sending its table (RFC 7313 4): what it does not re-send by the end goes,
      // and an End that never comes does not keep stale routes forever.
      for (const [k, path] of p.adjIn) if (familyOf(path.prefix) === family) p.adjIn.set(k, { ...path, stale: true });
      if (p.staleTimer) this.deps.clock.clearTimeout(p.staleTimer);
      p.staleTimer = this.deps.clock.setTimeout(() => this.dropStale(p, 'no end of route refresh in time'), REFRESH_STALE_MS);
      return;
    }
    if (subtype === 2) {
      this.dropStale(p, 'end of route refresh');
      return;
    }
    // A request: send the whole table again for that family, bracketed when both sides do RFC 7313.
    if (n.enhancedRefresh) p.session.send({ type: 'route-refresh', afi, safi, subtype: 1 });
    const next = this.exportFor(p);
    const only = (m: ReadonlyMap<string, OutPath>): Map<string, OutPath> => new Map([...m].filter(([, v]) => familyOf(v.prefix) === family));
    const fam = only(next);
    this.sendDiff(p, n, new Map(), fam);
    for (const [k, v] of next) if (familyOf(v.prefix) === family && !fam.has(k)) next.delete(k);
    p.adjOut = next;
    if (n.enhancedRefresh) p.session.send({ type: 'route-refresh', afi, safi, subtype: 2 });
  }

  /** Whether a peer has sent its End-of-RIB since its session came up (graceful restart deferral). */
  sentEndOfRib(address: IP): boolean {
    return this.peers.get(address)?.eor ?? false;
  }
}
