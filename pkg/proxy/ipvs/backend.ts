/**
 * One family's IPVS datapath: snapshot → pure diff → apply. A full sync (the first, every periodic one,
 * any after a failure) reads the kernel once (`readIpvsSnapshot`); a partial sync takes what it applied
 * last, kept in memory, for just the frontends that changed (one endpoint change is one destination op,
 * not a full pass as upstream). Both go through the same `diffIpvs`. An IPVS service is ours when its
 * `address,proto:port` is in our kube-router-svip-prt set, written before the service is created and
 * cleared after it is deleted, so we never touch (or adopt) a service someone else made.
 */
import type { Ipset } from '../../linux/ipset/types.js';
import type { SavedTable } from '../../linux/iptables/save.js';
import type { Iptables } from '../../linux/iptables/types.js';
import { serviceIdKey, type Ipvs, type IpvsDestination, type IpvsOp, type IpvsServiceId } from '../../linux/ipvs/types.js';
import type { Netlink } from '../../linux/netlink/types.js';
import type { Sysctl } from '../../linux/sysctl.js';
import type { Clock } from '../../util/clock.js';
import { ErrorCode, errorMessage, isKubeRouterError, KubeRouterError } from '../../util/errors.js';
import { renderSetDelta } from '../../linux/ipset/render.js';
import { cidrContains, familyOf, type CIDR, type Family, type IP } from '../../util/ip.js';
import type { Logger } from '../../util/logger.js';
import type { BackendSyncResult, ProgrammedFrontend, ProxyBackend, RenderContext } from '../backend.js';
import type { FamilyModel } from '../model/types.js';
import { SET_BASE, setName, svipPortEntryOfId } from './desired.js';
import { desiredIpvs, diffIpvs, drainKey, serviceIdOfFrontendKey, type DesiredMemo, type IpvsDesired, type IpvsPlan } from './diff.js';
import type { DsrPods } from './dsr-pods.js';
import { readIpvsSnapshot, type CurrentService, type CurrentSet, type IpvsSnapshot } from './snapshot.js';

export interface IpvsBackendDeps {
  readonly ipvs: Ipvs;
  readonly netlink: Netlink;
  readonly iptables: Iptables;
  readonly ipset: Ipset;
  readonly sysctl: Sysctl;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The pod side of DSR (IPv4); without it DSR frontends are programmed on the node only. */
  readonly dsrPods?: DsrPods;
}

export interface IpvsBackendOptions {
  readonly gracefulTermination: boolean;
  readonly gracefulPeriodMs: number;
  /** IPVS services inside these ranges are never deleted by us (upstream's --excluded-cidrs). */
  readonly excludedCidrs: readonly CIDR[];
}

interface Draining {
  readonly service: IpvsServiceId;
  readonly dest: IpvsDestination;
  readonly deadline: number;
}

/** What we applied last: a snapshot of our own objects, for the next partial sync. */
interface Applied {
  readonly services: Map<string, CurrentService>;
  readonly sets: ReadonlyMap<string, CurrentSet>;
  readonly vips: ReadonlySet<IP>;
  readonly localRoutes: ReadonlyMap<IP, IP | undefined>;
  readonly tables: { readonly filter: SavedTable; readonly nat: SavedTable; readonly mangle: SavedTable };
  readonly dsrRules: ReadonlySet<number>;
  readonly dsrRoute: boolean;
}

/** Upstream's IPVS sysctls. */
const SYSCTLS: readonly (readonly [string, string])[] = [
  ['net.ipv4.vs.conntrack', '1'],
  ['net.ipv4.vs.expire_nodest_conn', '1'],
  ['net.ipv4.vs.expire_quiescent_template', '1'],
  ['net.ipv4.vs.conn_reuse_mode', '0'],
  ['net.ipv4.conf.all.arp_ignore', '1'],
  ['net.ipv4.conf.all.arp_announce', '2'],
];

export class IpvsProxyBackend implements ProxyBackend {
  readonly kind = 'ipvs';
  readonly drainsGracefully = true;
  private applied: Applied | undefined;
  private readonly draining = new Map<string, Draining>();
  private readonly warnedForeign = new Set<string>();
  private readonly memo: DesiredMemo = new WeakMap();

  constructor(
    readonly family: Family,
    private readonly deps: IpvsBackendDeps,
    private readonly opts: IpvsBackendOptions,
  ) {}

  invalidate(): void {
    this.applied = undefined;
  }

  /** Never assumed: every periodic sync reconciles IPVS, the VIPs, sets and jumps against the kernel. */
  intact(): Promise<boolean> {
    return Promise.resolve(false);
  }

  appliedFrontendCount(): number {
    return this.applied?.services.size ?? 0;
  }

  close(): void {
    this.deps.ipvs.close();
  }

  /** Our IPVS services (those in our ownership set) and their destinations, read from the kernel. */
  async programmed(): Promise<ReadonlyMap<string, ProgrammedFrontend>> {
    const snap = await readIpvsSnapshot(this.deps, this.family);
    const owned = snap.sets.get(setName(SET_BASE.svipPort, this.family))?.entries ?? new Set<string>();
    const out = new Map<string, ProgrammedFrontend>();
    for (const cur of snap.services.values()) {
      const id = cur.service.id;
      if (!('address' in id) || !owned.has(svipPortEntryOfId(id))) continue;
      const backends = [...cur.dests.values()]
        .map((d) => ({ addr: d.address.includes(':') ? `[${d.address}]:${d.port}` : `${d.address}:${d.port}`, weight: d.weight, ...(d.connections !== undefined ? { connections: d.connections } : {}) }))
        .sort((a, b) => a.addr.localeCompare(b.addr));
      out.set(`${id.address} . ${id.protocol.toLowerCase()} . ${id.port}`, { backends, rejected: backends.length === 0 });
    }
    return out;
  }

  async sync(model: FamilyModel, changed: Iterable<string> | 'all', ctx: RenderContext): Promise<BackendSyncResult> {
    const t0 = this.deps.clock.monotonicMs();
    const full = this.applied === undefined || changed === 'all';
    try {
      // One process for all of them; a key the kernel lacks does not stop the others.
      if (full && this.family === 4) await this.deps.sysctl.set(SYSCTLS).catch(() => undefined);
      const snap = full ? await readIpvsSnapshot(this.deps, this.family) : memorySnapshot(this.applied as Applied, this.draining, changed);
      const t1 = this.deps.clock.monotonicMs();
      const want = desiredIpvs(model, ctx.opts, this.memo);
      const plan = diffIpvs(want, snap, { gracefulTermination: this.opts.gracefulTermination, excluded: (ip) => this.excluded(ip), draining: new Set(this.draining.keys()) });
      const steps = await this.apply(plan);
      this.applied = appliedAfter(this.applied, want, plan, snap);
      // After the commit: the pods behind DSR frontends get (or lose) their tunnel.
      const dsr = this.family === 4 && this.deps.dsrPods ? await this.deps.dsrPods.sync(model.frontends.values(), full) : undefined;
      for (const id of plan.foreign) {
        if (this.warnedForeign.has(id)) continue;
        this.warnedForeign.add(id);
        this.deps.logger.warn('an IPVS service we did not create holds a service address: skipped, not adopted', { service: id });
      }
      const writes = plan.ipvsOps.length + plan.netOps.length + plan.setWrites + (plan.iptables === '' ? 0 : 1) + (dsr?.changed ?? 0);
      if (full) this.deps.logger.v(2, 'ipvs full sync', { family: this.family, ipvsOps: plan.ipvsOps.length, netOps: plan.netOps.length, setWrites: plan.setWrites, iptables: plan.iptables === '' ? 0 : 1, dsr: dsr?.changed ?? 0, readMs: Math.round(t1 - t0), applyMs: Math.round(this.deps.clock.monotonicMs() - t1), ...steps, ...(writes > 0 && writes < 5 ? { what: [...plan.ipvsOps.map((o) => o.op), ...plan.netOps.map((o) => o.op)].join(',') } : {}) });
      return { mode: writes === 0 ? 'noop' : full ? 'full' : 'partial', writes, removedBackends: plan.removed };
    } catch (e) {
      this.applied = undefined;
      throw e;
    }
  }

  /**
   * Ownership and new members, IPVS, then the VIPs and the chains side by side (different kernel
   * subsystems; both in place when this returns), then members that went; how long each took (ms).
   */
  private async apply(plan: IpvsPlan): Promise<{ setsMs: number; ipvsMs: number; netMs: number; iptablesMs: number }> {
    const clock = this.deps.clock;
    const timed = async (fn: () => Promise<unknown>): Promise<number> => {
      const t = clock.monotonicMs();
      await fn();
      return Math.round(clock.monotonicMs() - t);
    };
    let setsMs = plan.setsBefore !== '' ? await timed(() => this.deps.ipset.restore(plan.setsBefore)) : 0;
    const ipvsMs = await timed(() => this.runOps(plan.ipvsOps));
    const now = clock.monotonicMs();
    for (const k of plan.drainStop) this.draining.delete(k);
    for (const d of plan.drainStart) this.draining.set(drainKey(serviceIdKey(d.service), d.dest), { service: d.service, dest: d.dest, deadline: now + this.opts.gracefulPeriodMs });
    const net = plan.netOps.length > 0 ? timed(() => this.deps.netlink.apply(plan.netOps)) : Promise.resolve(0);
    const chains = plan.iptables !== '' ? timed(() => this.deps.iptables.restore(plan.iptables)) : Promise.resolve(0);
    // Both settle before either failure is thrown: nothing is left running behind a failed sync.
    const [n, c] = await Promise.allSettled([net, chains]);
    if (n.status === 'rejected') throw n.reason;
    if (c.status === 'rejected') throw c.reason;
    if (plan.setsAfter !== '') setsMs += await timed(() => this.deps.ipset.restore(plan.setsAfter));
    return { setsMs, ipvsMs, netMs: n.value, iptablesMs: c.value };
  }

  /** Deletes drained destinations: no connections left, or the grace period is over. */
  async tick(): Promise<void> {
    if (this.draining.size === 0) return;
    const now = this.deps.clock.monotonicMs();
    const byService = new Map<string, Draining[]>();
    for (const d of this.draining.values()) byService.set(serviceIdKey(d.service), [...(byService.get(serviceIdKey(d.service)) ?? []), d]);
    const ops: IpvsOp[] = [];
    for (const [id, list] of byService) {
      const live = await this.deps.ipvs.destinations((list[0] as Draining).service).catch(() => []);
      for (const d of list) {
        const k = drainKey(id, d.dest);
        const h = live.find((x) => x.address === d.dest.address && x.port === d.dest.port);
        if (!h) this.draining.delete(k);
        else if (h.activeConnections + h.inactiveConnections === 0 || now >= d.deadline) {
          ops.push({ op: 'delete-dest', service: d.service, address: d.dest.address, port: d.dest.port });
          this.draining.delete(k);
        }
      }
    }
    if (ops.length === 0) return;
    const res = await this.deps.ipvs.apply(ops);
    this.deps.logger.v(2, 'drained destinations deleted', { count: res.filter((r) => r === undefined).length });
  }

  private excluded(ip: IP): boolean {
    return this.opts.excludedCidrs.some((c) => familyOf(c) === familyOf(ip) && cidrContains(c, ip));
  }

  private async runOps(ops: readonly IpvsOp[]): Promise<void> {
    if (ops.length === 0) return;
    const res = await this.deps.ipvs.apply(ops);
    const failed = res.map((r, i) => ({ r, op: ops[i] as IpvsOp })).filter((x) => x.r !== undefined);
    if (failed.length === 0) return;
    // A service we meant to create already existed: someone else's (a partial sync works from memory
    // and could not know). Its ownership record, written just before, goes again, so the full sync
    // that follows skips it instead of adopting it.
    const notOurs = failed.flatMap((x) => (x.op.op === 'add-service' && isKubeRouterError(x.r, ErrorCode.AlreadyExists) && 'address' in x.op.service.id ? [x.op.service.id] : []));
    if (notOurs.length > 0) {
      const name = setName(SET_BASE.svipPort, this.family);
      await this.deps.ipset.restore(renderSetDelta(name, [], notOurs.map(svipPortEntryOfId))).catch(() => undefined);
    }
    for (const x of failed.slice(0, 5)) this.deps.logger.warn('IPVS op failed', { op: x.op.op, service: serviceIdKey(opService(x.op)), error: errorMessage(x.r) });
    throw new KubeRouterError(ErrorCode.ToolFailed, `${failed.length} of ${ops.length} IPVS ops failed; the next sync reconciles from a dump`);
  }
}

/** A partial sync's snapshot: what we applied, for the services of the changed frontends (draining destinations at weight 0). */
function memorySnapshot(a: Applied, draining: ReadonlyMap<string, Draining>, changed: Iterable<string>): IpvsSnapshot {
  const scope = new Set([...changed].map(serviceIdOfFrontendKey));
  // DSR services are found by mark, not by the frontend's key: always in scope (they are few).
  for (const id of a.services.keys()) if (id.startsWith('fwmark')) scope.add(id);
  const services = new Map<string, CurrentService>();
  for (const id of scope) {
    const s = a.services.get(id);
    if (!s) continue;
    const dests = new Map(s.dests);
    for (const [k, d] of draining) if (k.startsWith(`${id}|`)) dests.set(k.slice(id.length + 1), d.dest);
    services.set(id, { service: s.service, dests });
  }
  return { scope, services, sets: a.sets, dummy: { exists: true, up: true }, vips: a.vips, localRoutes: a.localRoutes, tables: a.tables, dsrRules: a.dsrRules, dsrRoute: a.dsrRoute };
}

/** Our objects after a plan was applied: the next partial sync's starting point. */
function appliedAfter(prev: Applied | undefined, want: IpvsDesired, plan: IpvsPlan, snap: IpvsSnapshot): Applied {
  const services = snap.scope === 'all' || !prev ? new Map<string, CurrentService>() : prev.services;
  const foreign = new Set(plan.foreign);
  const scope = snap.scope === 'all' ? undefined : snap.scope;
  if (scope) for (const id of scope) services.delete(id);
  for (const [id, w] of want.services) {
    if (foreign.has(id) || (scope && !scope.has(id) && !('fwmark' in w.service.id && scope.has(serviceIdOfFrontendKey(w.key))))) continue;
    services.set(id, { service: w.service, dests: w.dests });
  }
  const f = want.family;
  const sets = new Map<string, CurrentSet>([
    [setName(SET_BASE.svip, f), { type: 'hash:ip', entries: plan.sets.svip }],
    [setName(SET_BASE.svipPort, f), { type: 'hash:ip,port', entries: plan.sets.svipPort }],
    [setName(SET_BASE.localIPs, f), { type: 'hash:ip', entries: plan.sets.localIPs }],
    [setName(SET_BASE.dsr, f), { type: 'hash:ip,port', entries: plan.sets.dsr }],
  ]);
  const localRoutes = new Map<IP, IP | undefined>(want.nodeIP ? [...want.vips].map((ip): [IP, IP | undefined] => [ip, want.nodeIP]) : []);
  const table = (t: 'filter' | 'nat' | 'mangle'): SavedTable => {
    const chains = new Map<string, readonly string[]>();
    for (const spec of want.chains) {
      if (spec.table !== t) continue;
      for (const c of spec.chains) chains.set(c.name, c.rules);
      for (const j of spec.jumps) chains.set(j.from, j.rules);
    }
    return { chains };
  };
  const marks = new Set(want.dsrMarks.values());
  return { services, sets, vips: want.vips, localRoutes, tables: { filter: table('filter'), nat: table('nat'), mangle: table('mangle') }, dsrRules: marks, dsrRoute: marks.size > 0 };
}

function opService(op: IpvsOp): IpvsServiceId {
  switch (op.op) {
    case 'add-service':
    case 'update-service':
      return op.service.id;
    case 'delete-service':
      return op.id;
    case 'add-dest':
    case 'update-dest':
    case 'delete-dest':
      return op.service;
  }
}
