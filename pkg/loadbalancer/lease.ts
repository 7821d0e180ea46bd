import type { ApiTransport } from '../k8s/transport.js';
import type { Clock } from '../util/clock.js';
import { microTime } from '../k8s/micro-time.js';

/** client-go's defaults for the lease and the renew deadline: 15 s, and leading ends 10 s after the last renewal. */
export const LEASE_DURATION_S = 15;
export const RENEW_DEADLINE_MS = 10_000;
/**
 * A try every 5 s (client-go's default is 2 s): still two renewals before the deadline and three per
 * lease, for a third of the requests; an idle daemon pays for every one of them on every node. A
 * standby takes over at most 5 s after the lease ran out.
 */
export const RETRY_MS = 5_000;

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  renewTime?: string;
  acquireTime?: string;
  leaseTransitions?: number;
}

interface LeaseObject {
  readonly metadata?: Record<string, unknown>;
  readonly spec?: LeaseSpec;
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
  /** The Lease as our last write left it: while we lead, a renewal is one PUT on it (a conflict reads it again). */
  private written: LeaseObject | undefined;

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
    const spec: LeaseSpec = { holderIdentity: this.lease.identity, leaseDurationSeconds: LEASE_DURATION_S, renewTime: microTime(now) };
    const put = async (metadata: Record<string, unknown> | undefined, next: LeaseSpec): Promise<boolean> => {
      const r = await this.api.request('PUT', path, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata, spec: next });
      this.written = r.status < 300 ? (r.body as LeaseObject) : undefined;
      return r.status < 300;
    };
    try {
      const w = this.written;
      if (this.leading() && w?.metadata && w.spec?.holderIdentity === this.lease.identity) {
        if (await put(w.metadata, { ...w.spec, ...spec })) return this.settle(true, now);
        // Someone wrote it since (a conflict): read it and decide as on any try.
      }
      const cur = await this.api.request('GET', path);
      if (cur.status === 404) {
        const r = await this.api.request('POST', `/apis/coordination.k8s.io/v1/namespaces/${this.lease.namespace}/leases`, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.lease.name, namespace: this.lease.namespace }, spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 } });
        this.written = r.status < 300 ? (r.body as LeaseObject) : undefined;
        return this.settle(r.status < 300, now);
      }
      if (cur.status !== 200) return this.settle(false, now);
      const obj = cur.body as { metadata?: Record<string, unknown>; spec?: LeaseSpec };
      const held = obj.spec ?? {};
      const mine = held.holderIdentity === this.lease.identity;
      if (!mine && !leaseExpired(held, now)) return this.settle(false, now, true);
      const next: LeaseSpec = mine ? { ...held, ...spec } : { ...spec, acquireTime: microTime(now), leaseTransitions: (held.leaseTransitions ?? 0) + 1 };
      return this.settle(await put(obj.metadata, next), now);
    } catch {
      this.written = undefined;
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
