import type { InspectHandler } from './inspect.js';

/**
 * What the daemon needs from each controller. Constructors do no I/O; `start` registers event
 * handlers and begins reconciling once the controller's informers have synced.
 */
export interface Controller {
  /** Upstream's health component name, e.g. `NetworkServicesController`. */
  readonly name: string;
  readonly syncPeriodMs: number;
  /**
   * Work that needs no API object, started while the informers list (reading the kernel, probing tools);
   * not awaited by the daemon, and never failing: `start` and the first sync pick up what it got.
   */
  prepare?(): void;
  start(): Promise<void>;
  /** Stops reconciling; kernel state is left in place so traffic keeps flowing across a restart. */
  stop(): Promise<void>;
  /** Read-only views for `kube-router proxy|routes|bgp`, by socket path (`/proxy/services`, ...). */
  readonly inspect?: Readonly<Record<string, InspectHandler>>;
}

/** Removes exactly the kernel objects one controller owns (`--cleanup-config`). */
export interface Cleanup {
  readonly name: string;
  run(): Promise<void>;
}
