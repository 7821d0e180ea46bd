import type { ApiTransport } from '../k8s/transport.js';
import type { Clock } from '../util/clock.js';
import { microTime } from '../k8s/micro-time.js';

/** Upstream's lease timings (client-go's defaults): 15 s lease, 10 s to renew, a try every 2 s. */
export const LEASE_DURATION_S = 15;
export const RENEW_DEADLINE_MS = 10_000;
export const RETRY_MS = 2_000;

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  renewTime?: string;
  acquireTime?: string;
  leaseTransitions?: number;
}

/** Whether another holder's lease has run out (its renew time plus its duration is past). Pure. */
export function leaseExpired(spec: LeaseSpec, nowMs: number): boolean {
  const renewed = spec.renewTime ? Date.parse(spec.renewTime) : NaN;
  if (!Number.isFinite(renewed) || !spec.holderIdentity) return true;
  return renewed + (spec.leaseDurationSeconds ?? LEASE_DURATION_S) * 1000 < nowMs;
}

/**
 * Leader election on a coordination.k8s.io Lease, as client-go does it: take the Lease when it is
 * free or its holder stopped renewing, renew it every try while we hold it, and stop leading when a
 * renewal has not succeeded for RENEW_DEADLINE_MS. Writes carry the Lease's resourceVersion, so two
 * candidates never both win.
 */
export class LeaseElector {
  private leadingSince: number | undefined;
  private lastRenew = 0;

  constructor(
    private readonly api: ApiTransport,
    private readonly clock: Clock,
    private readonly lease: { readonly namespace: string; readonly name: string; readonly identity: string },
  ) {}

  leading(): boolean {
    return this.leadingSince !== undefined;
  }

  /** One try: acquire or renew. Returns whether we lead afterwards. */
  async tryOnce(): Promise<boolean> {
    const now = this.clock.now();
    const path = `/apis/coordination.k8s.io/v1/namespaces/${this.lease.namespace}/leases/${this.lease.name}`;
    try {
      const cur = await this.api.request('GET', path);
      const spec: LeaseSpec = { holderIdentity: this.lease.identity, leaseDurationSeconds: LEASE_DURATION_S, renewTime: microTime(now) };
      if (cur.status === 404) {
        const r = await this.api.request('POST', `/apis/coordination.k8s.io/v1/namespaces/${this.lease.namespace}/leases`, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.lease.name, namespace: this.lease.namespace }, spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 } });
        return this.settle(r.status < 300, now);
      }
      if (cur.status !== 200) return this.settle(false, now);
      const obj = cur.body as { metadata?: Record<string, unknown>; spec?: LeaseSpec };
      const held = obj.spec ?? {};
      const mine = held.holderIdentity === this.lease.identity;
      if (!mine && !leaseExpired(held, now)) return this.settle(false, now, true);
      const next: LeaseSpec = mine ? { ...held, ...spec } : { ...spec, acquireTime: microTime(now), leaseTransitions: (held.leaseTransitions ?? 0) + 1 };
      const r = await this.api.request('PUT', path, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: obj.metadata, spec: next });
      return this.settle(r.status < 300, now);
    } catch {
      return this.settle(false, now);
    }
  }

  /** `heldByOther`: someone else leads: stop at once. Otherwise a failed renewal stops us only after the deadline. */
  private settle(ok: boolean, now: number, heldByOther = false): boolean {
    if (ok) {
      this.lastRenew = now;
      this.leadingSince ??= now;
    } else if (heldByOther || now - this.lastRenew > RENEW_DEADLINE_MS) this.leadingSince = undefined;
    return this.leading();
  }
}
