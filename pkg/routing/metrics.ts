import type { Counter, Gauge, Histogram } from 'prom-client';
import type { DaemonMetrics } from '../runtime/metrics.js';

/** Upstream's router metric names. */
export interface RoutingMetrics {
  readonly peerInfo: Gauge<'address' | 'type' | 'asn' | 'state'>;
  readonly peerPrefixes: Gauge<'address' | 'direction'>;
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
}

export function routingMetrics(m: DaemonMetrics): RoutingMetrics {
  return {
    peerInfo: m.gauge('kube_router_bgp_peer_info', 'BGP peers (value 1) with their session state', ['address', 'type', 'asn', 'state']),
    peerPrefixes: m.gauge('kube_router_bgp_peer_prefixes', 'Prefixes per BGP peer: received, accepted (after the import policy) and advertised', ['address', 'direction']),
    internalPeersSyncTime: m.histogram('kube_router_controller_bgp_internal_peers_sync_time', 'Time to sync the BGP peers, seconds'),
    controllerRoutesSyncTime: m.histogram('kube_router_controller_routes_sync_time', 'Time of a routing sync, seconds'),
    routesSyncTime: m.histogram('kube_router_host_routes_sync_time', 'Time to reconcile the routes we inject, seconds'),
    routesSynced: m.gauge('kube_router_host_routes_synced', 'Routes we keep in the kernel'),
    routesAdded: m.counter('kube_router_host_routes_added', 'Routes we added (or put back)'),
    routesRemoved: m.counter('kube_router_host_routes_removed', 'Routes we removed'),
    advertisementsReceived: m.counter('kube_router_controller_bgp_advertisements_received', 'Routes received from BGP peers'),
    advertisementsSent: m.counter('kube_router_controller_bgp_advertisements_sent', 'Routes announced or withdrawn to BGP peers', ['type']),
  };
}
