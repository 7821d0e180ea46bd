import { ServedFrontends } from '../runtime/served-frontends.js';
import type { KubeRouterConfig } from '../options/config.js';
import { WatchLayer } from '../k8s/watch-layer.js';
import type { ApiTransport } from '../k8s/transport.js';
import type { Controller } from '../runtime/controller.js';
import { HealthChecker } from '../runtime/health.js';
import { InspectionServer } from '../runtime/inspect.js';
import { errorMessage } from '../util/errors.js';
import { serveHealth, serveMetrics, type Listener } from '../runtime/http.js';
import { DaemonMetrics } from '../runtime/metrics.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { ControllerContext } from '../runtime/context.js';
import type { KernelAdapters } from '../linux/adapters.js';
import { EventRecorder } from '../k8s/events.js';
import { Rejections } from '../runtime/rejections.js';

export type ControllerFactory = (ctx: ControllerContext) => Controller | Promise<Controller>;

export interface DaemonDeps {
  readonly config: KubeRouterConfig;
  readonly transport: ApiTransport;
  readonly kernel: KernelAdapters;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly version: string;
  /** The enabled controllers, in start order (router, proxy, firewall, as upstream). */
  readonly controllers: readonly ControllerFactory[];
}

/**
 * The process: health and metrics listeners, one shared watch layer, the enabled controllers. Start
 * waits for the informer caches (bounded by --cache-sync-timeout) before any controller applies
 * anything; stop leaves kernel state in place.
 */
export class Daemon {
  readonly metrics: DaemonMetrics;
  readonly health: HealthChecker;
  readonly watch: WatchLayer;
  private healthListener: Listener | undefined;
  private metricsListener: Listener | undefined;
  private inspection: InspectionServer | undefined;
  private readonly running: Controller[] = [];

  constructor(private readonly deps: DaemonDeps) {
    this.metrics = new DaemonMetrics(deps.version);
    this.health = new HealthChecker(deps.clock);
    this.watch = new WatchLayer({
      transport: deps.transport,
      clock: deps.clock,
      logger: deps.logger,
      onRestart: (resource, reason) => this.metrics.watchRestarts.inc({ resource, reason }),
    });
  }

  /** Ports actually bound, for logs and tests. */
  boundPorts(): { health?: number; metrics?: number } {
    return { ...(this.healthListener ? { health: this.healthListener.port } : {}), ...(this.metricsListener ? { metrics: this.metricsListener.port } : {}) };
  }

  async start(): Promise<void> {
    const { config, logger, clock } = this.deps;
    const graceMs = config.cacheSyncTimeoutMs;
    this.health.registerProbe('KubernetesAPI', () => {
      const down = this.watch.disconnectedForMs();
      const synced = this.watch.allSynced();
      return { name: 'KubernetesAPI', healthy: synced && down <= graceMs, detail: !synced ? 'caches not synced' : down === 0 ? 'watching' : `no contact for ${Math.round(down)} ms (grace ${graceMs} ms)` };
    });
    if (config.health.port !== 0) this.healthListener = await serveHealth(this.health, config.health.addr, config.health.port);
    if (config.metrics.port !== 0) this.metricsListener = await serveMetrics(this.metrics, config.metrics.addr, config.metrics.port, config.metrics.path);

    // Every controller needs the Node objects (this node's IPs and pod CIDRs, the peers).
    this.watch.views('nodes');
    const events = new EventRecorder(this.deps.transport, clock, logger.child('events'), { node: config.nodeName });
    const ctx: ControllerContext = { config, watch: this.watch, kernel: this.deps.kernel, health: this.health, metrics: this.metrics, clock, logger, rejections: new Rejections(logger, this.metrics, events), api: this.deps.transport, servedFrontends: new ServedFrontends() };
    const controllers: Controller[] = [];
    for (const make of this.deps.controllers) controllers.push(await make(ctx));
    // What needs no API object (the firewall reads the kernel) runs while the informers list.
    for (const c of controllers) c.prepare?.();
    this.watch.start();
    const t0 = clock.monotonicMs();
    await this.watch.waitForSync(config.cacheSyncTimeoutMs);
    logger.info('informer caches synced', { ms: Math.round(clock.monotonicMs() - t0) });
    for (const c of controllers) {
      this.health.register(c.name, c.syncPeriodMs);
      await c.start();
      this.running.push(c);
      logger.info('controller started', { controller: c.name });
    }
    const inspection = new InspectionServer(logger.child('inspect'));
    for (const c of controllers) for (const [path, h] of Object.entries(c.inspect ?? {})) inspection.register(path, h);
    if (inspection.paths().length > 0) {
      await inspection.start(config.inspectSocket).then(
        () => {
          this.inspection = inspection;
        },
        (e: unknown) => logger.warn('inspection socket not served', { path: config.inspectSocket, error: errorMessage(e) }),
      );
    }
  }

  async stop(): Promise<void> {
    await this.inspection?.close();
    for (const c of [...this.running].reverse()) await c.stop();
    await this.watch.stop();
    await this.healthListener?.close();
    await this.metricsListener?.close();
  }
}
