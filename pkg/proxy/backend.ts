import type { Family } from '../util/ip.js';
import type { FamilyModel } from './model/types.js';

/** Proxy settings every backend renders with. */
export interface RenderOptions {
  readonly masqueradeAll: boolean;
  /** --ipvs-permit-all semantics: reject traffic to service IPs on ports no service serves. */
  readonly rejectUnserved: boolean;
  /**
   * nftables: count each frontend's traffic (packets and bytes both ways, new connections) in named
   * counters for the per-service metrics. On while metrics are served; absent means off.
   */
  readonly serviceCounters?: boolean;
}

export interface RenderContext {
  readonly opts: RenderOptions;
  readonly isLocal: (ip: string) => boolean;
}

export type SyncMode = 'full' | 'partial' | 'noop';

export interface RemovedBackend {
  readonly key: string;
  readonly frontend: { readonly ip: string; readonly protocol: string; readonly port: number; readonly affinity: boolean };
  readonly backendIP: string;
  readonly backendPort: number;
}

export interface BackendSyncResult {
  readonly mode: SyncMode;
  /** Kernel writes: element or op count (partial) or total script lines / ops (full). */
  readonly writes: number;
  /** Backends taken out of frontends, for conntrack and affinity cleanup after commit. */
  readonly removedBackends: readonly RemovedBackend[];
}

/** One family's datapath (nftables or IPVS): the controller drives either the same way. */
/** One frontend as the kernel has it: its backends (`ip:port`, with weights on IPVS) or rejection. */
export interface ProgrammedFrontend {
  readonly backends: readonly { readonly addr: string; readonly weight?: number; readonly connections?: number }[];
  /** New connections are rejected (no endpoints). */
  readonly rejected: boolean;
}

export interface ProxyBackend {
  readonly kind: 'nftables' | 'ipvs';
  readonly family: Family;
  /** Forces the next sync to rebuild (or re-read) everything. */
  invalidate(): void;
  /** Cheap check, on the periodic sync, that nobody changed our state behind our back. */
  intact(): Promise<boolean>;
  sync(model: FamilyModel, changed: Iterable<string> | 'all', ctx: RenderContext): Promise<BackendSyncResult>;
  appliedFrontendCount(): number;
  /** Whether the controller must time out TCP flows itself after the grace period (IPVS drains instead). */
  readonly drainsGracefully: boolean;
  /** Clients stuck to removed backends by affinity get a new one (nftables keeps an affinity map). */
  dropAffinity?(gone: readonly RemovedBackend[]): Promise<void>;
  /** What the kernel holds of ours right now, by frontend key (`ip . proto . port`), for inspection. */
  programmed(): Promise<ReadonlyMap<string, ProgrammedFrontend>>;
  /** Periodic work between syncs (IPVS: deleting drained destinations). */
  tick?(): Promise<void>;
  close?(): void;
}
