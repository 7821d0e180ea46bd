import type { IpvsStats } from '../../linux/ipvs/types.js';
import type { NftCounter } from '../../linux/nftables/types.js';
import type { Frontend } from '../model/types.js';
import type { FrontendTraffic } from '../service-metrics.js';
import type { CounterKind } from './layout.js';

export interface TrafficTotals {
  readonly connections: number;
  readonly packetsIn: number;
  readonly bytesIn: number;
  readonly packetsOut: number;
  readonly bytesOut: number;
}

const ZERO: NftCounter = { packets: 0, bytes: 0 };

/** Per counter set (in, out, new): frontend key → its element's counter. */
export type CounterReadings = Readonly<Record<CounterKind, ReadonlyMap<string, NftCounter>>>;

/** Each frontend's totals from its elements in the three counter sets (missing ones count as 0). Pure. */
export function frontendTotals(frontends: ReadonlyMap<string, Frontend>, counters: CounterReadings): Map<string, { readonly frontend: Frontend; readonly totals: TrafficTotals }> {
  const out = new Map<string, { frontend: Frontend; totals: TrafficTotals }>();
  for (const [key, f] of frontends) {
    const i = counters.in.get(key) ?? ZERO;
    const o = counters.out.get(key) ?? ZERO;
    const n = counters.new.get(key) ?? ZERO;
    out.set(key, { frontend: f, totals: { connections: n.packets, packetsIn: i.packets, bytesIn: i.bytes, packetsOut: o.packets, bytesOut: o.bytes } });
  }
  return out;
}

/**
 * IPVS-shaped stats: the totals, and per-second rates from the previous reading (0 on the first one,
 * or when a counter went backwards because its frontend was re-created). Pure.
 */
export function withRates(cur: TrafficTotals, prev: TrafficTotals | undefined, seconds: number): IpvsStats {
  const rate = (a: number, b: number | undefined): number => (b === undefined || seconds <= 0 || a < b ? 0 : Math.round((a - b) / seconds));
  return {
    ...cur,
    cps: rate(cur.connections, prev?.connections),
    ppsIn: rate(cur.packetsIn, prev?.packetsIn),
    ppsOut: rate(cur.packetsOut, prev?.packetsOut),
    bpsIn: rate(cur.bytesIn, prev?.bytesIn),
    bpsOut: rate(cur.bytesOut, prev?.bytesOut),
  };
}

/** Reads the counters of every family's table and turns them into per-frontend traffic with rates. */
export class NftTrafficReader {
  private prev: { readonly at: number; readonly totals: ReadonlyMap<string, TrafficTotals> } | undefined;

  constructor(
    private readonly sources: readonly { readonly counters: () => Promise<CounterReadings | undefined>; readonly frontends: () => ReadonlyMap<string, Frontend> }[],
    private readonly nowMs: () => number,
  ) {}

  async read(): Promise<FrontendTraffic[]> {
    const at = this.nowMs();
    const totals = new Map<string, TrafficTotals>();
    const out: FrontendTraffic[] = [];
    for (const s of this.sources) {
      const counters = await s.counters();
      if (!counters) continue;
      for (const [key, { frontend, totals: t }] of frontendTotals(s.frontends(), counters)) {
        totals.set(key, t);
        out.push({ address: frontend.ip, protocol: frontend.protocol.toLowerCase(), port: frontend.port, stats: withRates(t, this.prev?.totals.get(key), this.prev ? (at - this.prev.at) / 1000 : 0) });
      }
    }
    this.prev = { at, totals };
    return out;
  }
}
