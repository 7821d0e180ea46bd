import type { Family } from '../../util/ip.js';
import type { Logger } from '../../util/logger.js';
import type { Nftables } from '../../linux/nftables/types.js';
import type { FamilyModel, Frontend } from '../model/types.js';
import { errorMessage } from '../../util/errors.js';
import type { BackendSyncResult, ProgrammedFrontend, ProxyBackend, RemovedBackend } from '../backend.js';
import { parseProgrammed } from './programmed.js';
import { CANARY, COUNTER_SETS, SETS, TABLE, words } from './layout.js';
import type { CounterReadings } from './traffic.js';
import { renderDelta, renderFull, type AppliedState } from './render.js';
import { type RenderContext } from '../backend.js';


/**
 * One family's table. Keeps the last applied state in memory and writes only differences; anything
 * unexpected (a failed apply, the canary gone) makes the next sync a full rebuild.
 */
export class NftProxyBackend implements ProxyBackend {
  readonly kind = 'nftables';
  readonly drainsGracefully = false;
  private state: AppliedState | undefined;

  constructor(
    private readonly nft: Nftables,
    readonly family: Family,
    private readonly logger: Logger,
  ) {}

  /** Forces the next sync to rebuild the table. */
  invalidate(): void {
    this.state = undefined;
  }

  /** Whether our table is still as we left it (cheap: one tiny set). */
  async intact(): Promise<boolean> {
    const els = await this.nft.listSet(words(this.family).nftFamily, TABLE, CANARY);
    return els !== undefined && els.includes('1');
  }

  /** The frontends as last committed (empty before the first sync or after a failed one). */
  appliedFrontends(): ReadonlyMap<string, Frontend> {
    return this.state?.frontends ?? new Map();
  }

  /** The per-frontend counters (undefined unless rendered with serviceCounters). */
  async counters(): Promise<CounterReadings | undefined> {
    const fam = words(this.family).nftFamily;
    const [i, o, n] = await Promise.all(Object.values(COUNTER_SETS).map((s) => this.nft.listSetCounters(fam, TABLE, s)));
    return i && o && n ? { in: i, out: o, new: n } : undefined;
  }

  /** The dispatch map, the no-endpoints set and each handler's endpoint map, read from the kernel. */
  async programmed(): Promise<ReadonlyMap<string, ProgrammedFrontend>> {
    const fam = words(this.family).nftFamily;
    const dispatch = (await this.nft.listSet(fam, TABLE, SETS.dispatch)) ?? [];
    const rejected = (await this.nft.listSet(fam, TABLE, SETS.noEndpoints)) ?? [];
    const chains = [...new Set(dispatch.map((e) => /goto (\S+)$/.exec(e)?.[1]).filter((c): c is string => c !== undefined))];
    const maps = new Map<string, readonly string[]>();
    for (const c of chains) maps.set(c, (await this.nft.listSet(fam, TABLE, `ep-${c.slice('svc-'.length)}`)) ?? []);
    return parseProgrammed(dispatch, rejected, maps);
  }

  async sync(model: FamilyModel, changed: Iterable<string> | 'all', ctx: RenderContext): Promise<BackendSyncResult> {
    const prev = this.state;
    if (!prev) {
      const { script, state } = renderFull(model, ctx);
      try {
        await this.nft.apply(script);
      } catch (e) {
        this.state = undefined;
        throw e;
      }
      this.state = state;
      // The next change goes through the persistent session: have it load the new table now. Not
      // awaited: the session runs it before any later transaction, and it cannot fail a sync.
      void this.nft.prepare?.(words(this.family).nftFamily, TABLE, CANARY);
      return { mode: 'full', writes: script.split('\n').length, removedBackends: [] };
    }
    const keys = changed === 'all' ? new Set([...prev.frontends.keys(), ...model.frontends.keys()]) : changed;
    const plan = renderDelta(prev, model, keys, ctx);
    const removed: RemovedBackend[] = [];
    if (plan.script === '') return { mode: 'noop', writes: 0, removedBackends: [] };
    for (const key of changed === 'all' ? keys : new Set(changed)) {
      const before = prev.frontends.get(key);
      if (!before) continue;
      const after = new Set((model.frontends.get(key)?.backends ?? []).map((b) => `${b.ip}|${b.port}`));
      for (const b of before.backends) if (!after.has(`${b.ip}|${b.port}`)) removed.push({ key, frontend: { ip: before.ip, protocol: before.protocol.toLowerCase(), port: before.port, affinity: before.affinitySeconds !== undefined }, backendIP: b.ip, backendPort: b.port });
    }
    try {
      await this.nft.apply(plan.script);
    } catch (e) {
      this.logger.warn('partial nft sync failed; the next sync rebuilds the table', { family: this.family });
      this.state = undefined;
      throw e;
    }
    plan.commit(prev);
    return { mode: 'partial', writes: plan.writes, removedBackends: removed };
  }

  /** The frontends currently applied (for metrics and inspection). */
  appliedFrontendCount(): number {
    return this.state?.frontends.size ?? 0;
  }

  /**
   * Clients stuck (ClientIP affinity) to a backend that is gone get a new one on their next
   * connection: one read of the affinity map and one delete, whatever the number removed.
   */
  async dropAffinity(gone: readonly RemovedBackend[]): Promise<void> {
    const w = words(this.family);
    try {
      const els = (await this.nft.listSet(w.nftFamily, TABLE, SETS.affinity)) ?? [];
      const suffixes = gone.map((g) => ` . ${g.frontend.ip} . ${g.frontend.protocol} . ${g.frontend.port} : ${g.backendIP} . ${g.backendPort}`);
      const stale = els.filter((e) => suffixes.some((x) => e.endsWith(x))).map((e) => e.split(' : ')[0] as string);
      if (stale.length > 0) await this.nft.apply(`delete element ${w.nftFamily} ${TABLE} ${SETS.affinity} { ${stale.join(', ')} }\n`);
    } catch (e) {
      this.logger.warn('affinity cleanup failed', { error: errorMessage(e) });
    }
  }
}
