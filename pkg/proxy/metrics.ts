import type { Counter, Gauge, Histogram } from 'prom-client';
import type { DaemonMetrics } from '../runtime/metrics.js';

/** Upstream's proxy metric names where we measure the same thing, plus ours. */
export interface ProxyMetrics {
  readonly services: Gauge;
  readonly syncTime: Histogram;
  readonly syncDuration: Histogram<'mode'>;
  readonly programmingLatency: Histogram;
  readonly kernelWrites: Counter<'mode'>;
  readonly backendInfo: Gauge<'backend'>;
}

export function proxyMetrics(m: DaemonMetrics): ProxyMetrics {
  return {
    services: m.gauge('kube_router_controller_ipvs_services', 'Service frontends (address:port:protocol) programmed'),
    syncTime: m.histogram('kube_router_controller_ipvs_services_sync_time', 'Time of a service proxy sync, seconds'),
    syncDuration: m.histogram('kube_router_proxy_sync_duration_seconds', 'Service proxy sync time by mode (full rebuild, partial, no-op)', ['mode']),
    programmingLatency: m.histogram('kube_router_proxy_network_programming_duration_seconds', 'From an EndpointSlice change (last-change-trigger-time) to the kernel committed, seconds'),
    kernelWrites: m.counter('kube_router_proxy_kernel_writes_total', 'Element writes (partial) or script lines (full) sent to the kernel', ['mode']),
    backendInfo: m.gauge('kube_router_proxy_backend_info', 'The datapath in use', ['backend']),
  };
}
