import type { Clock } from '../util/clock.js';
import { ErrorCode, KubeRouterError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { KubeObject, StoreEvent } from './object.js';
import { Reflector, type ReflectorOptions } from './reflector.js';
import type { ApiTransport } from './transport.js';

/** The resources kube-router reads, by the name controllers ask for them. */
export const WATCHED = {
  services: '/api/v1/services',
  endpointSlices: '/apis/discovery.k8s.io/v1/endpointslices',
  pods: '/api/v1/pods',
  nodes: '/api/v1/nodes',
  namespaces: '/api/v1/namespaces',
  networkPolicies: '/apis/networking.k8s.io/v1/networkpolicies',
  clusterNetworkPolicies: '/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies',
} as const;
/** Resources a cluster may not serve (their CRD not installed): empty and synced until it does. */
const OPTIONAL: ReadonlySet<ResourceName> = new Set(['clusterNetworkPolicies']);
export type ResourceName = keyof typeof WATCHED;

/** A read-only view of one resource: what a controller may see. */
export interface ResourceView {
  readonly name: ResourceName;
  list(): KubeObject[];
  /** `namespace/name`, or `name` for cluster-scoped objects. */
  get(key: string): KubeObject | undefined;
  subscribe(fn: (e: StoreEvent) => void): () => void;
  synced(): boolean;
}

export type Views<K extends ResourceName> = { readonly [P in K]: ResourceView };

export interface WatchLayerDeps {
  readonly transport: ApiTransport;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly reflector?: Partial<Pick<ReflectorOptions, 'backoffInitialMs' | 'backoffMaxMs' | 'watchTimeoutSec'>>;
  readonly onRestart?: (resource: ResourceName, reason: string) => void;
}

/**
 * One reflector per resource, shared by every controller that asks for it. Tracks contact with the
 * API so that health can tell "synced and connected" from "the API has been gone for a while".
 */
export class WatchLayer {
  private readonly reflectors = new Map<ResourceName, Reflector>();
  /** Resources some controller needs in full from the cache (the others are kept metadata-only). */
  private readonly needFull = new Set<ResourceName>();
  private lastContact: number;
  private started = false;

  constructor(private readonly deps: WatchLayerDeps) {
    this.lastContact = deps.clock.monotonicMs();
  }

  private reflector(name: ResourceName): Reflector {
    let r = this.reflectors.get(name);
    if (!r) {
      r = new Reflector(
        { path: WATCHED[name], name, ...(OPTIONAL.has(name) ? { optional: true } : {}), ...this.deps.reflector },
        {
          transport: this.deps.transport,
          clock: this.deps.clock,
          logger: this.deps.logger.child(`watch/${name}`),
          onContact: () => {
            this.lastContact = this.deps.clock.monotonicMs();
          },
          onRestart: (reason) => this.deps.onRestart?.(name, reason),
        },
      );
      this.reflectors.set(name, r);
      if (this.started) r.start();
    }
    return r;
  }

  /**
   * A narrow view for a controller; asking registers the resource (before or after start). With
   * `cache: 'metadata'` the controller promises to read objects only from events; a resource is cached
   * metadata-only when every controller that asked for it promised so.
   */
  viewsWith<K extends ResourceName>(opts: { readonly cache: 'full' | 'metadata' }, ...names: K[]): Views<K> {
    const out = {} as Record<K, ResourceView>;
    for (const name of names) {
      const r = this.reflector(name);
      if (opts.cache === 'full') this.needFull.add(name);
      out[name] = { name, list: () => r.list(), get: (k) => r.get(k), subscribe: (fn) => r.subscribe(fn), synced: () => r.synced() };
    }
    return out;
  }

  views<K extends ResourceName>(...names: K[]): Views<K> {
    return this.viewsWith({ cache: 'full' }, ...names);
  }

  start(): void {
    this.started = true;
    for (const [name, r] of this.reflectors) r.setRetention(this.needFull.has(name) ? 'full' : 'metadata');
    for (const r of this.reflectors.values()) r.start();
  }

  async stop(): Promise<void> {
    this.started = false;
    await Promise.all([...this.reflectors.values()].map((r) => r.stop()));
  }

  allSynced(): boolean {
    return [...this.reflectors.values()].every((r) => r.synced());
  }

  /** Resolves when every registered resource has listed once; rejects after `timeoutMs`. */
  async waitForSync(timeoutMs: number): Promise<void> {
    let timer: ReturnType<Clock['setTimeout']> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = this.deps.clock.setTimeout(() => {
        const missing = [...this.reflectors.entries()].filter(([, r]) => !r.synced()).map(([n]) => n);
        reject(new KubeRouterError(ErrorCode.Timeout, `caches not synced within ${timeoutMs} ms: ${missing.join(', ')}`, { missing }));
      }, timeoutMs);
    });
    try {
      await Promise.race([Promise.all([...this.reflectors.values()].map((r) => r.whenSynced())), timeout]);
    } finally {
      if (timer) this.deps.clock.clearTimeout(timer);
    }
  }

  /**
   * 0 while every resource has a watch open; otherwise milliseconds since the API last answered
   * anything (list, watch opened, event, bookmark).
   */
  disconnectedForMs(): number {
    if ([...this.reflectors.values()].every((r) => r.watching())) return 0;
    return this.deps.clock.monotonicMs() - this.lastContact;
  }
}
