import type { KubeRouterConfig } from '../options/config.js';
import type { WatchLayer } from '../k8s/watch-layer.js';
import type { HealthChecker } from './health.js';
import type { DaemonMetrics } from './metrics.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { Rejections } from './rejections.js';
import type { KernelAdapters } from '../linux/adapters.js';

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
}
