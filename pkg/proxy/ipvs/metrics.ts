import { Counter, Gauge, type Histogram } from 'prom-client';
import type { Ipvs, IpvsServiceState, IpvsStats } from '../../linux/ipvs/types.js';
import type { DaemonMetrics } from '../../runtime/metrics.js';

const LABELS = ['svc_namespace', 'service_name', 'service_vip', 'protocol', 'port'] as const;
type Label = (typeof LABELS)[number];

const COUNTERS: readonly [string, keyof IpvsStats, string][] = [
  ['kube_router_service_total_connections', 'connections', 'Total incoming connections made'],
  ['kube_router_service_packets_in', 'packetsIn', 'Total incoming packets'],
  ['kube_router_service_packets_out', 'packetsOut', 'Total outgoing packets'],
  ['kube_router_service_bytes_in', 'bytesIn', 'Total incoming bytes'],
  ['kube_router_service_bytes_out', 'bytesOut', 'Total outgoing bytes'],
];
const GAUGES: readonly [string, keyof IpvsStats, string][] = [
  ['kube_router_service_pps_in', 'ppsIn', 'Incoming packets per second'],
  ['kube_router_service_pps_out', 'ppsOut', 'Outgoing packets per second'],
  ['kube_router_service_cps', 'cps', 'Service connections per second'],
  ['kube_router_service_bps_in', 'bpsIn', 'Incoming bytes per second'],
  ['kube_router_service_bps_out', 'bpsOut', 'Outgoing bytes per second'],
];

/**
 * Upstream's per-service IPVS counters, read from the kernel at scrape time: one dump of IPVS services
 * per scrape (shared by all ten metrics), joined to our frontends by address, protocol and port.
 * Services that are not ours are not reported.
 */
export function ipvsServiceMetrics(m: DaemonMetrics, ipvs: Ipvs, names: () => ReadonlyMap<string, string>): void {
  const exportTime: Histogram = m.histogram('kube_router_controller_ipvs_metrics_export_time', 'Time to export the IPVS service metrics, seconds');
  let scrape: { at: number; services: Promise<IpvsServiceState[]> } | undefined;
  const dump = (): Promise<IpvsServiceState[]> => {
    // Every metric of one scrape asks; the first dump serves them all.
    if (!scrape || Date.now() - scrape.at > 1000) scrape = { at: Date.now(), services: ipvs.services().catch(() => []) };
    return scrape.services;
  };
  const fill = async (set: (labels: Record<Label, string>, v: number) => void, field: keyof IpvsStats): Promise<void> => {
    const t0 = process.hrtime.bigint();
    const map = names();
    for (const s of await dump()) {
      if ('fwmark' in s.id) continue;
      const svc = map.get(`${s.id.address}|${s.id.protocol}|${s.id.port}`);
      if (!svc) continue;
      const [ns, rest] = svc.split('/');
      set({ svc_namespace: ns ?? '', service_name: (rest ?? '').split(':')[0] ?? '', service_vip: s.id.address, protocol: s.id.protocol, port: String(s.id.port) }, s.stats[field]);
    }
    if (field === 'connections') exportTime.observe(Number(process.hrtime.bigint() - t0) / 1e9);
  };
  for (const [name, field, help] of COUNTERS) {
    new Counter<Label>({
      name,
      help,
      labelNames: LABELS,
      registers: [m.registry],
      async collect() {
        this.reset();
        await fill((l, v) => this.inc(l, v), field);
      },
    });
  }
  for (const [name, field, help] of GAUGES) {
    new Gauge<Label>({
      name,
      help,
      labelNames: LABELS,
      registers: [m.registry],
      async collect() {
        this.reset();
        await fill((l, v) => this.set(l, v), field);
      },
    });
  }
}
