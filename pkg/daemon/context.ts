import type { KubeRouterConfig } from '../options/config.js';
import type { WatchLayer } from '../k8s/watch-layer.js';
import type { HealthChecker } from '../runtime/health.js';
import type { DaemonMetrics } from '../runtime/metrics.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { KernelAdapters } from './kernel.js';

/** What every controller is built from. Controllers take only what they need from it. */
export interface ControllerContext {
  readonly config: KubeRouterConfig;
  readonly watch: WatchLayer;
  readonly kernel: KernelAdapters;
  readonly health: HealthChecker;
  readonly metrics: DaemonMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
}
