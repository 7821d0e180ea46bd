import { eventTargetOf } from '../k8s/events.js';
import type { KubeObject } from '../k8s/object.js';
import type { Views } from '../k8s/watch-layer.js';
import { syncResultHook, type ControllerContext } from '../runtime/context.js';
import type { Controller } from '../runtime/controller.js';
import { BoundedFrequencyRunner } from '../runtime/runner.js';
import type { TimerHandle } from '../util/clock.js';
import { ErrorCode, KubeRouterError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { LeaseElector, RETRY_MS } from './lease.js';
import { planLoadBalancers } from './plan.js';
import { parseLoadBalancerRequest } from '../k8s/kinds/service.js';

/** Upstream's Lease name. */
export const LEASE_NAME = 'kube-router-lballoc';

/**
 * `--run-loadbalancer`: gives Services of type LoadBalancer an address from `--loadbalancer-ip-range`
 * (per IP family of the Service), in their status, as upstream's allocator. One allocator in the
 * cluster: leader election on the `kube-router-lballoc` Lease (identity POD_NAME, namespace
 * POD_NAMESPACE). The Services' status is the only state, so a restart or a new leader never hands
 * out an address twice. Announcing the addresses is the router's (`--advertise-loadbalancer-ip`).
 */
export class LoadBalancerController implements Controller {
  readonly name = 'LoadBalancerController';
  readonly syncPeriodMs: number;
  private readonly views: Views<'services'>;
  private readonly runner: BoundedFrequencyRunner;
  private readonly elector: LeaseElector;
  private readonly logger: Logger;
  private readonly unsubscribe: (() => void)[] = [];
  private leaseTimer: TimerHandle | undefined;
  private stopped = false;
  private readonly reported = new Set<string>();

  constructor(
    private readonly ctx: ControllerContext,
    identity: { readonly name: string; readonly namespace: string },
  ) {
    this.syncPeriodMs = ctx.config.loadBalancer.syncPeriodMs;
    this.logger = ctx.logger.child('loadbalancer');
    this.views = ctx.watch.views('services');
    this.elector = new LeaseElector(ctx.api, ctx.clock, { namespace: identity.namespace, name: LEASE_NAME, identity: identity.name });
    this.runner = new BoundedFrequencyRunner(() => this.sync(), { name: this.name, minIntervalMs: 100, maxIntervalMs: this.syncPeriodMs, retryAfterMs: 1000, onResult: syncResultHook(ctx, this.name) }, ctx.clock, this.logger);
    this.unsubscribe.push(this.views.services.subscribe(() => this.runner.run()));
  }

  start(): Promise<void> {
    this.runner.start();
    void this.leaseLoop();
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.leaseTimer) this.ctx.clock.clearTimeout(this.leaseTimer);
    for (const u of this.unsubscribe.splice(0)) u();
    await this.runner.stop();
  }

  private async leaseLoop(): Promise<void> {
    if (this.stopped) return;
    const was = this.elector.leading();
    const now = await this.elector.tryOnce();
    if (now !== was) {
      this.logger.info(now ? 'leading: allocating LoadBalancer addresses' : 'no longer leading: another node allocates', { lease: LEASE_NAME });
      if (now) this.runner.run();
    }
    if (!this.stopped) this.leaseTimer = this.ctx.clock.setTimeout(() => void this.leaseLoop(), RETRY_MS);
  }

  private async sync(): Promise<void> {
    if (!this.elector.leading()) return;
    const objs = new Map<string, KubeObject>(this.views.services.list().map((o) => [`${o.metadata.namespace ?? ''}/${o.metadata.name}`, o]));
    const plan = planLoadBalancers(
      [...objs.values()].map(parseLoadBalancerRequest),
      this.ctx.config.loadBalancerIPRanges,
      this.ctx.config.loadBalancer.defaultClass,
    );
    for (const e of plan.exhausted) {
      const o = objs.get(e.key);
      const key = `${e.key}/${e.family}`;
      if (!o || this.reported.has(key)) continue;
      this.reported.add(key);
      this.ctx.rejections.reject({ controller: 'loadbalancer', kind: 'Service', reason: 'RangeExhausted', message: `no free IPv${e.family} address in --loadbalancer-ip-range ${this.ctx.config.loadBalancerIPRanges.join(',')}`, object: eventTargetOf(o, 'Service', 'v1') });
    }
    const failures: string[] = [];
    const write = async (key: string, ips: readonly string[]): Promise<void> => {
      const o = objs.get(key);
      if (!o) return;
      const [ns, name] = key.split('/');
      const status = { ...((o.raw['status'] as Record<string, unknown> | undefined) ?? {}), loadBalancer: ips.length > 0 ? { ingress: ips.map((ip) => ({ ip, ipMode: 'VIP' })) } : {} };
      const r = await this.ctx.api.request('PUT', `/api/v1/namespaces/${ns ?? ''}/services/${name ?? ''}/status`, { ...o.raw, apiVersion: 'v1', kind: 'Service', status });
      if (r.status >= 300) failures.push(`${key}: HTTP ${r.status}`);
      else {
        this.reported.delete(`${key}/4`);
        this.reported.delete(`${key}/6`);
        this.logger.info(ips.length > 0 ? 'LoadBalancer address allocated' : 'LoadBalancer address released', { service: key, ips: ips.join(',') });
      }
    };
    for (const [key, ips] of plan.assign) await write(key, ips);
    for (const key of plan.release) await write(key, []);
    // A conflict (someone changed the Service meanwhile) is retried by the runner with the newer object.
    if (failures.length > 0) throw new KubeRouterError(ErrorCode.ApiError, `LoadBalancer status not written: ${failures.join('; ')}`);
  }
}
