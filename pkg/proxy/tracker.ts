import type { Family } from '../util/ip.js';
import { computeServiceFrontends, frontendKey } from './model/compute.js';
import { mergeSlices } from './model/merge-slices.js';
import type { ParsedSlice } from '../k8s/kinds/endpoint-slice.js';
import type { FamilyModel, Frontend, NodeContext, ServiceEndpoints } from './model/types.js';
import type { ServiceInfo } from '../k8s/kinds/service.js';

/**
 * The proxy's view of Services and EndpointSlices and what they compute to, updated incrementally:
 * event handlers record changes and mark a service dirty; `recompute` re-runs the pure per-service
 * compute only for dirty services and says which frontend keys changed. When two services claim the
 * same address:port:protocol, the one with the smaller `namespace/name` wins, deterministically.
 */
export class ServiceTracker {
  private readonly services = new Map<string, ServiceInfo>();
  private readonly slices = new Map<string, ParsedSlice>();
  private readonly slicesBySvc = new Map<string, Set<string>>();
  private readonly dirty = new Set<string>();
  private readonly perService = new Map<Family, Map<string, Map<string, Frontend>>>();
  private readonly claims = new Map<Family, Map<string, Set<string>>>();
  private readonly resolved = new Map<Family, Map<string, Frontend>>();

  constructor(private readonly families: readonly Family[]) {
    for (const f of families) {
      this.perService.set(f, new Map());
      this.claims.set(f, new Map());
      this.resolved.set(f, new Map());
    }
  }

  setService(key: string, svc: ServiceInfo | undefined): void {
    if (svc) this.services.set(key, svc);
    else this.services.delete(key);
    this.dirty.add(key);
  }

  setSlice(sliceKey: string, slice: ParsedSlice | undefined): void {
    const old = this.slices.get(sliceKey);
    if (old) {
      this.slicesBySvc.get(old.serviceKey)?.delete(sliceKey);
      this.dirty.add(old.serviceKey);
    }
    if (slice) {
      this.slices.set(sliceKey, slice);
      let s = this.slicesBySvc.get(slice.serviceKey);
      if (!s) {
        s = new Set();
        this.slicesBySvc.set(slice.serviceKey, s);
      }
      s.add(sliceKey);
      this.dirty.add(slice.serviceKey);
    } else this.slices.delete(sliceKey);
  }

  markAllDirty(): void {
    for (const k of this.services.keys()) this.dirty.add(k);
    for (const k of this.slicesBySvc.keys()) this.dirty.add(k);
    for (const m of this.perService.values()) for (const k of m.keys()) this.dirty.add(k);
  }

  hasDirty(): boolean {
    return this.dirty.size > 0;
  }

  endpointsOf(svcKey: string): ServiceEndpoints | undefined {
    const keys = this.slicesBySvc.get(svcKey);
    if (!keys || keys.size === 0) return undefined;
    return mergeSlices([...keys].map((k) => this.slices.get(k)).filter((s): s is ParsedSlice => s !== undefined));
  }

  /** Earliest `last-change-trigger-time` among a service's slices (ms), for the latency metric. */
  triggerTimeOf(svcKey: string): number | undefined {
    let t: number | undefined;
    for (const k of this.slicesBySvc.get(svcKey) ?? []) {
      const tt = this.slices.get(k)?.triggerTimeMs;
      if (tt !== undefined && (t === undefined || tt < t)) t = tt;
    }
    return t;
  }

  serviceList(): [string, ServiceInfo][] {
    return [...this.services.entries()];
  }

  /** Re-computes dirty services; returns the services recomputed and the changed keys per family. */
  recompute(node: NodeContext): { services: string[]; changed: Map<Family, Set<string>>; failures: { readonly service: string; readonly error: string }[] } {
    const changed = new Map<Family, Set<string>>(this.families.map((f) => [f, new Set<string>()]));
    const failures: { service: string; error: string }[] = [];
    const services = [...this.dirty];
    this.dirty.clear();
    for (const svcKey of services) {
      const svc = this.services.get(svcKey);
      const eps = svc ? this.endpointsOf(svcKey) : undefined;
      for (const family of this.families) {
        const per = this.perService.get(family) as Map<string, Map<string, Frontend>>;
        const claims = this.claims.get(family) as Map<string, Set<string>>;
        const ch = changed.get(family) as Set<string>;
        const old = per.get(svcKey);
        const next = new Map<string, Frontend>();
        // One Service's fault stays with it: it is not served (no frontends), the others are.
        let computed: Frontend[] = [];
        try {
          if (svc) computed = computeServiceFrontends(svc, eps, node, family);
        } catch (e) {
          failures.push({ service: svcKey, error: e instanceof Error ? e.message : String(e) });
        }
        for (const f of computed) {
          const k = frontendKey(f.ip, f.protocol, f.port);
          if (!next.has(k)) next.set(k, f);
        }
        for (const k of old?.keys() ?? []) if (!next.has(k)) {
          claims.get(k)?.delete(svcKey);
          ch.add(k);
        }
        for (const k of next.keys()) {
          let c = claims.get(k);
          if (!c) {
            c = new Set();
            claims.set(k, c);
          }
          c.add(svcKey);
          ch.add(k);
        }
        if (next.size > 0) per.set(svcKey, next);
        else per.delete(svcKey);
      }
    }
    for (const family of this.families) {
      const per = this.perService.get(family) as Map<string, Map<string, Frontend>>;
      const claims = this.claims.get(family) as Map<string, Set<string>>;
      const res = this.resolved.get(family) as Map<string, Frontend>;
      for (const k of changed.get(family) as Set<string>) {
        const c = claims.get(k);
        if (!c || c.size === 0) {
          claims.delete(k);
          res.delete(k);
          continue;
        }
        const winner = [...c].sort()[0] as string;
        const f = per.get(winner)?.get(k);
        if (f) res.set(k, f);
        else res.delete(k);
      }
    }
    return { services, changed, failures };
  }

  model(family: Family, node: NodeContext): FamilyModel {
    const nodeIP = node.primaryIPs[family];
    return { family, frontends: this.resolved.get(family) ?? new Map(), podCIDRs: node.podCIDRs.filter((c) => c.includes(':') === (family === 6)), localIPs: node.localIPs, ...(nodeIP ? { nodeIP } : {}) };
  }

  /** Frontend keys claimed by more than one service (for a warning). */
  conflicts(family: Family): string[] {
    return [...(this.claims.get(family) ?? new Map<string, Set<string>>()).entries()].filter(([, c]) => c.size > 1).map(([k]) => k);
  }
}
