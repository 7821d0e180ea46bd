import type { KernelAdapters } from '../linux/adapters.js';
import { renderSetSync, tempSetName } from '../linux/ipset/render.js';
import { ensureOwnedChains } from '../linux/iptables/owned-chain.js';
import { KUBE_ROUTER_RT_PROTO, type Nexthop, type Route, type RouteRule } from '../linux/netlink/types.js';
import { ErrorCode, errorMessage, isKubeRouterError, KubeRouterError } from '../util/errors.js';
import type { Family } from '../util/ip.js';
import type { Logger } from '../util/logger.js';
import { diffRoutes, type RouteSnapshot } from './route-diff.js';
import type { NexthopState } from './nexthops.js';
import { MAIN_TABLE, TUNNEL_TABLE, type RouteModel } from './route-model.js';

export interface ApplyOptions {
  /** Re-check what only changes when someone else changes it (sysctls, chains, sets, neighbours): first sync and once per period. */
  readonly checkKernel: boolean;
  /** Graceful-restart deferral: keep our routes the model no longer has. */
  readonly keepUnwanted: boolean;
}

export interface ApplyResult {
  readonly added: number;
  readonly removed: number;
  /** Our nexthop objects as the direct routes now use them; undefined without nexthop objects. */
  readonly nexthops: NexthopState | undefined;
}

/**
 * Applies a RouteModel with the kernel adapters: sysctls, our iptables chains and the pod-egress sets
 * (written only when they changed or on a kernel check), then one netlink batch from the diff against
 * the routes, links and rules read back. Each part runs even when another failed (a broken egress set
 * does not stop routes); the first failure is thrown after all were tried.
 */
export class RouteApplier {
  private readonly chainsApplied = new Map<Family, string>();
  private readonly setsApplied = new Map<Family, string>();
  private fouReady = false;
  private warnedNoNexthops = false;

  constructor(
    private readonly kernel: Pick<KernelAdapters, 'netlink' | 'iptables' | 'ipset' | 'sysctl'>,
    private readonly logger: Logger,
  ) {}

  async apply(model: RouteModel, opts: ApplyOptions): Promise<ApplyResult> {
    const failures: { part: string; error: unknown }[] = [];
    const part = async <T>(name: string, fn: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await fn();
      } catch (e) {
        failures.push({ part: name, error: e });
        this.logger.warn('routing step failed; the others still ran', { step: name, error: errorMessage(e) });
        return undefined;
      }
    };
    // A key the kernel lacks (no br_netfilter) does not stop the others; it is not worth a failed sync.
    if (opts.checkKernel) await this.kernel.sysctl.set(model.sysctls).catch(() => undefined);
    for (const f of model.families) {
      await part(`egress sets (IPv${f})`, () => this.applySets(model, f, opts.checkKernel));
      await part(`iptables chains (IPv${f})`, () => this.applyChains(model, f, opts.checkKernel));
    }
    const r = model.learned ? await part('routes', () => this.applyNetlink(model, opts)) : undefined;
    const first = failures[0];
    if (first) throw new KubeRouterError(ErrorCode.ToolFailed, `routing: ${failures.map((x) => x.part).join(', ')} failed: ${errorMessage(first.error)}`, {}, { cause: first.error });
    return r ?? { added: 0, removed: 0, nexthops: undefined };
  }

  private async applySets(model: RouteModel, f: Family, force: boolean): Promise<void> {
    const sets = model.egressSets[f] ?? [];
    const key = JSON.stringify(sets);
    if (sets.length === 0 || (!force && this.setsApplied.get(f) === key)) return;
    this.setsApplied.delete(f);
    try {
      await this.kernel.ipset.restore(renderSetSync(sets));
    } catch (e) {
      // `ipset restore` is not one transaction: a failure can leave the temp set of a swap behind.
      for (const s of sets) await this.kernel.ipset.restore(`destroy ${tempSetName(s.name)}\n`).catch(() => undefined);
      throw e;
    }
    this.setsApplied.set(f, key);
  }

  private async applyChains(model: RouteModel, f: Family, force: boolean): Promise<void> {
    const specs = model.chains[f] ?? [];
    const key = JSON.stringify(specs);
    if (!force && this.chainsApplied.get(f) === key) return;
    this.chainsApplied.delete(f);
    await ensureOwnedChains(this.kernel.iptables[f], specs);
    this.chainsApplied.set(f, key);
  }

  private async readSnapshot(families: readonly Family[]): Promise<RouteSnapshot> {
    const nl = this.kernel.netlink;
    const per = await Promise.all(
      families.map(async (f): Promise<[Route[], Route[], RouteRule[]]> => [await nl.routes(f, { table: MAIN_TABLE, protocol: KUBE_ROUTER_RT_PROTO }), await nl.routes(f, { table: TUNNEL_TABLE, protocol: KUBE_ROUTER_RT_PROTO }), await nl.rules(f)]),
    );
    const nexthops = await this.readNexthops();
    return { links: await nl.links(), main: per.flatMap((p) => p[0]), tunnelTable: per.flatMap((p) => p[1]), rules: per.flatMap((p) => p[2]), ...(nexthops ? { nexthops } : {}) };
  }

  /** The namespace's nexthop objects; undefined on a kernel without them (routes then carry their gateways). */
  private async readNexthops(): Promise<Nexthop[] | undefined> {
    try {
      return await this.kernel.netlink.nexthops();
    } catch (e) {
      if (!isKubeRouterError(e, ErrorCode.Unsupported)) throw e;
      if (!this.warnedNoNexthops) this.logger.info('this kernel has no nexthop objects: learned routes carry their gateways', { error: errorMessage(e) });
      this.warnedNoNexthops = true;
      return undefined;
    }
  }

  private async applyNetlink(model: RouteModel, opts: ApplyOptions): Promise<ApplyResult> {
    const plan = diffRoutes(model, await this.readSnapshot(model.families), { keepUnwanted: opts.keepUnwanted, reassertNeighbours: opts.checkKernel });
    if (plan.fou.length > 0 && !this.fouReady) {
      await this.kernel.netlink.apply(plan.fou).catch((e: unknown) => {
        if (!isKubeRouterError(e, ErrorCode.AlreadyExists)) throw e;
      });
      this.fouReady = true;
    }
    if (plan.ops.length > 0) await this.kernel.netlink.apply(plan.ops);
    if (plan.linkChanges > 0) this.logger.v(1, 'tunnels synced', { ops: plan.linkChanges });
    return { added: plan.added, removed: plan.removed, nexthops: plan.nexthops };
  }
}
