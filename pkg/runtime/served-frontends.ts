import type { Family } from '../util/ip.js';

/** One frontend (`ip . proto . port`) as this process's service proxy last committed it to the kernel. */
export type FrontendState = 'absent' | 'no-endpoints' | 'served';

/**
 * The service proxy's committed frontends, as the router sees them. The router advertises a service
 * address only once the proxy of this process has committed it (a Local one: with an endpoint), so
 * traffic a new route draws to this node finds its rules in place. The two controllers act on the
 * same events with no order between them; without this, a route could win the race and the first
 * connections be refused. With no proxy in the process (another one serves the node), every frontend
 * counts as served. Subscribers hear of every commit that changed a frontend.
 */
export class ServedFrontends {
  private lookup: ((family: Family, key: string) => FrontendState) | undefined;
  private readonly listeners = new Set<() => void>();

  /** The proxy, when it is built: from then on nothing counts as served until it commits. */
  attach(lookup: (family: Family, key: string) => FrontendState): void {
    this.lookup = lookup;
  }

  get attached(): boolean {
    return this.lookup !== undefined;
  }

  state(family: Family, key: string): FrontendState {
    return this.lookup ? this.lookup(family, key) : 'served';
  }

  /** The proxy committed a change to its frontends. */
  committed(): void {
    for (const l of this.listeners) l();
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
