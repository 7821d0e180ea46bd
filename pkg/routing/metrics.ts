import { Gauge, type Counter, type Histogram } from 'prom-client';
import type { PeerStatus } from '../bgp/speaker/speaker.js';
import type { DaemonMetrics } from '../runtime/metrics.js';

/** Upstream's router metric names. */
export interface RoutingMetrics {
  readonly routesSyncTime: Histogram;
  /** Upstream's: time to sync the BGP peers (planning them from the Nodes and handing them to the speaker). */
  readonly internalPeersSyncTime: Histogram;
  /** Upstream's: time of one whole routing sync (peers, routes, tunnels, rules, egress sets). */
  readonly controllerRoutesSyncTime: Histogram;
  readonly routesSynced: Gauge;
  readonly routesAdded: Counter;
  readonly routesRemoved: Counter;
  readonly advertisementsReceived: Counter;
  readonly advertisementsSent: Counter<'type'>;
  /** BFD datagrams dropped: not a valid control packet, or for no session of ours. */
  readonly bfdDiscarded: Counter<'reason'>;
}

export function routingMetrics(m: DaemonMetrics): RoutingMetrics {
  return {
    internalPeersSyncTime: m.histogram('kube_router_controller_bgp_internal_peers_sync_time', 'Time to sync the BGP peers, seconds'),
    controllerRoutesSyncTime: m.histogram('kube_router_controller_routes_sync_time', 'Time of a routing sync, seconds'),
    routesSyncTime: m.histogram('kube_router_host_routes_sync_time', 'Time to reconcile the routes we inject, seconds'),
    routesSynced: m.gauge('kube_router_host_routes_synced', 'Routes we keep in the kernel'),
    routesAdded: m.counter('kube_router_host_routes_added', 'Routes we added (or put back)'),
    routesRemoved: m.counter('kube_router_host_routes_removed', 'Routes we removed'),
    advertisementsReceived: m.counter('kube_router_controller_bgp_advertisements_received', 'Routes received from BGP peers'),
    advertisementsSent: m.counter('kube_router_controller_bgp_advertisements_sent', 'Routes announced or withdrawn to BGP peers', ['type']),
    bfdDiscarded: m.counter('kube_router_bfd_packets_discarded_total', 'BFD datagrams dropped: malformed, or for no session of ours', ['reason']),
  };
}

/**
 * Upstream's peer gauge and our prefix counts, read from the running speaker at scrape time (a session
 * that comes up between two routing syncs shows at once).
 */
export function peerMetrics(m: DaemonMetrics, peers: () => readonly PeerStatus[]): void {
  new Gauge<'address' | 'type' | 'asn' | 'state'>({
    name: 'kube_router_bgp_peer_info',
    help: 'BGP peers (value 1) with their session state',
    labelNames: ['address', 'type', 'asn', 'state'],
    registers: [m.registry],
    collect() {
      this.reset();
      for (const s of peers()) this.set({ address: s.address, type: s.kind === 'node' ? 'internal' : 'external', asn: String(s.asn), state: s.state }, 1);
    },
  });
  new Gauge<'address' | 'state' | 'hop'>({
    name: 'kube_router_bfd_session_info',
    help: 'BFD sessions (value 1) of the BGP peers that ask for one, with their state (AdminDown, Down, Init, Up) and hop mode',
    labelNames: ['address', 'state', 'hop'],
    registers: [m.registry],
    collect() {
      this.reset();
      for (const s of peers()) if (s.bfd) this.set({ address: s.address, state: s.bfd.state, hop: s.bfd.hop }, 1);
    },
  });
  new Gauge<'address'>({
    name: 'kube_router_bfd_session_detection_time_seconds',
    help: 'Detection time in force per BFD session: how long a silent peer takes to be declared down',
    labelNames: ['address'],
    registers: [m.registry],
    collect() {
      this.reset();
      for (const s of peers()) if (s.bfd) this.set({ address: s.address }, s.bfd.detectionTimeMs / 1000);
    },
  });
  new Gauge<'address'>({
    name: 'kube_router_bfd_session_down_transitions',
    help: 'Times a BFD session went from Up to Down since it started (each closed the BGP session)',
    labelNames: ['address'],
    registers: [m.registry],
    collect() {
      this.reset();
      for (const s of peers()) if (s.bfd) this.set({ address: s.address }, s.bfd.downs);
    },
  });
  new Gauge<'address' | 'direction'>({
    name: 'kube_router_bgp_peer_prefixes',
    help: 'Prefixes per BGP peer: received, accepted (after the import policy) and advertised',
    labelNames: ['address', 'direction'],
    registers: [m.registry],
    collect() {
      this.reset();
      for (const s of peers()) {
        this.set({ address: s.address, direction: 'received' }, s.received);
        this.set({ address: s.address, direction: 'accepted' }, s.accepted);
        this.set({ address: s.address, direction: 'advertised' }, s.advertised);
      }
    },
  });
}
