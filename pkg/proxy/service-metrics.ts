import { Counter, Gauge, type Histogram } from 'prom-client';
import type { IpvsStats } from '../linux/ipvs/types.js';
import type { DaemonMetrics } from '../runtime/metrics.js';

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

/** One frontend's traffic as the datapath counted it (IPVS's own stats, or our nftables counters). */
export interface FrontendTraffic {
  readonly address: string;
  readonly protocol: string;
  readonly port: number;
  readonly stats: IpvsStats;
}

/**
 * Upstream's per-service metrics (`kube_router_service_*`, upstream's names and labels), read from the
 * kernel at scrape time: one read per scrape (shared by all ten metrics), joined to our frontends by
 * address, protocol and port. Frontends that are not ours are not reported.
 */
export function serviceTrafficMetrics(m: DaemonMetrics, read: () => Promise<readonly FrontendTraffic[]>, names: () => ReadonlyMap<string, string>): void {
  const exportTime: Histogram = m.histogram('kube_router_controller_ipvs_metrics_export_time', 'Time to export the per-service metrics, seconds');
  let scrape: { at: number; services: Promise<readonly FrontendTraffic[]> } | undefined;
  const dump = (): Promise<readonly FrontendTraffic[]> => {
    // Every metric of one scrape asks; the first read serves them all.
    if (!scrape || Date.now() - scrape.at > 1000) scrape = { at: Date.now(), services: read().catch(() => []) };
    return scrape.services;
  };
  const fill = async (set: (labels: Record<Label, string>, v: number) => void, field: keyof IpvsStats): Promise<void> => {
    const t0 = process.hrtime.bigint();
    const map = names();
    for (const s of await dump()) {
      const svc = map.get(`${s.address}|${s.protocol}|${s.port}`);
      if (!svc) continue;
      const [ns, rest] = svc.split('/');
      set({ svc_namespace: ns ?? '', service_name: (rest ?? '').split(':')[0] ?? '', service_vip: s.address, protocol: s.protocol, port: String(s.port) }, s.stats[field]);
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
