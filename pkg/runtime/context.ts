import type { KubeRouterConfig } from '../options/config.js';
import type { WatchLayer } from '../k8s/watch-layer.js';
import type { HealthChecker } from './health.js';
import type { DaemonMetrics } from './metrics.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { Rejections } from './rejections.js';
import type { KernelAdapters } from '../linux/adapters.js';
import type { ApiTransport } from '../k8s/transport.js';
import type { ServedFrontends } from './served-frontends.js';

/** What every controller is built from. Controllers take only what they need from it. */
export interface ControllerContext {
  readonly config: KubeRouterConfig;
  readonly watch: WatchLayer;
  readonly kernel: KernelAdapters;
  readonly health: HealthChecker;
  readonly metrics: DaemonMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Refusing input: log line, metric and Warning Event. */
  readonly rejections: Rejections;
  /** Writes to the API beyond the watch layer (the allocator's Lease and Service status). */
  readonly api: ApiTransport;
  /** The service proxy's committed frontends, for the router's advertisements (absent: none in this process). */
  readonly servedFrontends?: ServedFrontends;
}

/**
 * The process policy for a controller's runner: after every sync, successful or not, the controller is
 * live (its loop runs; health is liveness, and a restart would not fix bad input or a broken kernel
 * tool); success and failure go to `kube_router_controller_sync_last_success_timestamp_seconds` and
 * `kube_router_controller_sync_failures_total`.
 */
export function syncResultHook(ctx: Pick<ControllerContext, 'health' | 'metrics' | 'clock'>, controller: string): (ok: boolean) => void {
  // The series exists at 0 from the start, so a rate() over it is 0 rather than no data.
  ctx.metrics.syncFailures.inc({ controller }, 0);
  return (ok) => {
    ctx.health.beat(controller);
    if (ok) ctx.metrics.syncLastSuccess.set({ controller }, ctx.clock.now() / 1000);
    else ctx.metrics.syncFailures.inc({ controller });
  };
}
