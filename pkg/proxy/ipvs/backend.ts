/**
 * One family's IPVS datapath. Keeps what it applied in memory and turns each changed frontend into the
 * few IPVS ops it needs (one endpoint change is one destination op, not a full pass as upstream); the
 * first sync and every periodic one reconcile against a dump of the kernel instead. An IPVS service is
 * ours when its `address,proto:port` is in our kube-router-svip-prt set, written before the service is
 * created and cleared after it is deleted, so we never touch a service someone else made.
 */
import type { Exec } from '../../linux/exec.js';
import type { Ipset, IpsetSpec } from '../../linux/ipset/types.js';
import { renderCreate, renderSetDelta, renderSetSync } from '../../linux/ipset/render.js';
import type { Iptables } from '../../linux/iptables/types.js';
import { destKey, serviceIdKey, type Ipvs, type IpvsDestination, type IpvsOp, type IpvsService, type IpvsServiceId } from '../../linux/ipvs/types.js';
import { KUBE_ROUTER_RT_PROTO, type NetOp, type Netlink } from '../../linux/netlink/types.js';
import type { Clock } from '../../util/clock.js';
import { ErrorCode, errorMessage, KubeRouterError } from '../../util/errors.js';
import { bitsOf, cidrContains, familyOf, isLinkLocal, type CIDR, type Family, type IP } from '../../util/ip.js';
import type { Logger } from '../../util/logger.js';
import type { BackendSyncResult, ProxyBackend, RemovedBackend } from '../backend.js';
import type { FamilyModel, Frontend } from '../model/types.js';
import type { RenderContext } from '../nft/render.js';
import { destinationsOf, DUMMY_IF, ipvsServiceOf, isVip, jumpRules, renderChains, sameDestination, sameService, SET_BASE, setName, CHAIN, svipPortEntry, type IptablesChains } from './desired.js';

export interface IpvsBackendDeps {
  readonly ipvs: Ipvs;
  readonly netlink: Netlink;
  readonly iptables: Iptables;
  readonly ipset: Ipset;
  readonly exec: Exec;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface IpvsBackendOptions {
  readonly gracefulTermination: boolean;
  readonly gracefulPeriodMs: number;
  /** IPVS services inside these ranges are never deleted by us (upstream's --excluded-cidrs). */
  readonly excludedCidrs: readonly CIDR[];
}

interface Entry {
  readonly frontend: Frontend;
  service: IpvsService;
  readonly dests: Map<string, IpvsDestination>;
}

interface Draining {
  readonly service: IpvsServiceId;
  readonly dest: IpvsDestination;
  readonly deadline: number;
}

interface Applied {
  readonly entries: Map<string, Entry>;
  vips: Set<IP>;
  svip: Set<string>;
  svipPort: Set<string>;
  localIPs: Set<string>;
  chains: string;
  readonly keptOwned: ReadonlySet<string>;
}

const SYSCTLS = ['net.ipv4.vs.conntrack=1', 'net.ipv4.vs.expire_nodest_conn=1', 'net.ipv4.vs.expire_quiescent_template=1', 'net.ipv4.vs.conn_reuse_mode=0', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2'];

function hostCidr(ip: IP): string {
  return `${ip}/${bitsOf(familyOf(ip))}`;
}

export class IpvsProxyBackend implements ProxyBackend {
  readonly kind = 'ipvs';
  readonly drainsGracefully = true;
  private state: Applied | undefined;
  private readonly draining = new Map<string, Draining>();

  constructor(
    readonly family: Family,
    private readonly deps: IpvsBackendDeps,
    private readonly opts: IpvsBackendOptions,
  ) {}

  invalidate(): void {
    this.state = undefined;
  }

  /** Never assumed: every periodic sync reconciles IPVS, the VIPs, sets and jumps against the kernel. */
  intact(): Promise<boolean> {
    return Promise.resolve(false);
  }

  appliedFrontendCount(): number {
    return this.state?.entries.size ?? 0;
  }

  close(): void {
    this.deps.ipvs.close();
  }

  async sync(model: FamilyModel, changed: Iterable<string> | 'all', ctx: RenderContext): Promise<BackendSyncResult> {
    try {
      return this.state && changed !== 'all' ? await this.partial(this.state, model, changed, ctx) : await this.full(model, ctx);
    } catch (e) {
      this.state = undefined;
      throw e;
    }
  }

  private async full(model: FamilyModel, ctx: RenderContext): Promise<BackendSyncResult> {
    const f = this.family;
    const steps: Record<string, number> = {};
    let t = this.deps.clock.monotonicMs();
    const step = (name: string): void => {
      const now = this.deps.clock.monotonicMs();
      steps[name] = Math.round(now - t);
      t = now;
    };
    // One process for all of them; a key the kernel lacks does not stop the others.
    if (f === 4) await this.deps.exec.run(['sysctl', '-qw', ...SYSCTLS]).catch(() => undefined);
    step('sysctl');
    const kernel = new Map((await this.deps.ipvs.services()).filter((s) => s.id.family === f).map((s) => [serviceIdKey(s.id), s]));
    const saved = new Map((await this.deps.ipset.save()).map((x) => [x.name, x]));
    const owned = new Set(saved.get(setName(SET_BASE.svipPort, f))?.entries ?? []);
    step('read');
    const entries = new Map<string, Entry>();
    const ops: IpvsOp[] = [];
    const removed: RemovedBackend[] = [];
    const wantIds = new Set<string>();
    const keptOwned = new Set<string>();
    for (const [key, fe] of model.frontends) {
      const want = ipvsServiceOf(fe, f);
      const id = serviceIdKey(want.id);
      wantIds.add(id);
      const have = kernel.get(id);
      const dests = new Map(destinationsOf(fe).map((d) => [destKey(d.address, d.port), d]));
      entries.set(key, { frontend: fe, service: want, dests });
      if (!have) {
        ops.push({ op: 'add-service', service: want }, ...[...dests.values()].map((d): IpvsOp => ({ op: 'add-dest', service: want.id, dest: d })));
        continue;
      }
      if (!sameService(have, want)) ops.push({ op: 'update-service', service: want });
      const haveDests = await this.deps.ipvs.destinations(want.id);
      for (const d of dests.values()) {
        const h = haveDests.find((x) => x.address === d.address && x.port === d.port);
        if (!h) ops.push({ op: 'add-dest', service: want.id, dest: d });
        else if (!sameDestination(h, d)) ops.push({ op: 'update-dest', service: want.id, dest: d });
        this.draining.delete(`${id}|${destKey(d.address, d.port)}`);
      }
      for (const h of haveDests) {
        const dk = destKey(h.address, h.port);
        if (dests.has(dk)) continue;
        if (this.draining.has(`${id}|${dk}`)) continue; // still draining: the tick deletes it
        removed.push(this.removedOf(key, fe, h));
        if (this.opts.gracefulTermination && h.activeConnections + h.inactiveConnections > 0) this.drain(want.id, h, ops);
        else ops.push({ op: 'delete-dest', service: want.id, address: h.address, port: h.port });
      }
    }
    for (const [id, s] of kernel) {
      if (wantIds.has(id) || 'fwmark' in s.id) continue;
      const entry = svipPortEntry({ ip: s.id.address, protocol: s.id.protocol.toUpperCase() as Frontend['protocol'], port: s.id.port as Frontend['port'] });
      if (!owned.has(entry)) continue;
      if (this.excluded(s.id.address)) {
        keptOwned.add(entry); // still ours, kept: its record stays
        continue;
      }
      ops.push({ op: 'delete-service', id: s.id });
      for (const k of [...this.draining.keys()]) if (k.startsWith(`${id}|`)) this.draining.delete(k);
    }
    step('compare');
    const next = this.desiredSets(model, entries, keptOwned);
    // Ownership first: new services are recorded in svip-prt before they exist.
    const newOwned = [...next.svipPort].filter((e) => !owned.has(e));
    if (newOwned.length > 0) await this.ensureSets(newOwned);
    await this.runOps(ops);
    step('ipvs');
    const netOps = await this.vipOps(undefined, next.vips, model);
    if (netOps.length > 0) await this.deps.netlink.apply(netOps);
    step('vips');
    // Each set converges by its differences from what `ipset save` showed (a swap only for a set of
    // another type): a periodic resync with nothing changed writes nothing.
    const specs: IpsetSpec[] = [
      { name: setName(SET_BASE.svip, f), type: 'hash:ip', family: f, entries: [...next.svip].sort() },
      { name: setName(SET_BASE.svipPort, f), type: 'hash:ip,port', family: f, entries: [...next.svipPort].sort() },
      { name: setName(SET_BASE.localIPs, f), type: 'hash:ip', family: f, entries: [...next.localIPs].sort() },
    ];
    let setText = '';
    let setWrites = 0;
    for (const spec of specs) {
      const have = saved.get(spec.name);
      if (have && have.type !== spec.type) {
        setText += renderSetSync([spec]);
        setWrites += spec.entries.length;
        continue;
      }
      const before = new Set(have?.entries ?? []);
      if (spec.name === setName(SET_BASE.svipPort, f)) for (const e of newOwned) before.add(e);
      const want = new Set(spec.entries);
      const add = spec.entries.filter((e) => !before.has(e));
      const del = [...before].filter((e) => !want.has(e));
      if (!have && !(spec.name === setName(SET_BASE.svipPort, f) && newOwned.length > 0)) setText += renderCreate(spec) + '\n';
      setText += setDelta(spec.name, add, del);
      setWrites += add.length + del.length;
    }
    if (setText !== '') await this.deps.ipset.restore(setText);
    step('ipsets');
    const chains = renderChains(model, ctx.opts);
    await this.writeChains(chains, true);
    step('iptables');
    this.deps.logger.v(2, 'ipvs full sync', { family: f, ipvsOps: ops.length, netOps: netOps.length, ...Object.fromEntries(Object.entries(steps).map(([k, v]) => [`${k}Ms`, v])) });
    this.state = { entries, vips: next.vips, svip: next.svip, svipPort: next.svipPort, localIPs: next.localIPs, chains: chainsText(chains), keptOwned };
    const writes = ops.length + netOps.length + setWrites;
    return { mode: writes > 0 ? 'full' : 'noop', writes, removedBackends: removed };
  }

  private async partial(state: Applied, model: FamilyModel, changed: Iterable<string>, ctx: RenderContext): Promise<BackendSyncResult> {
    const f = this.family;
    const ops: IpvsOp[] = [];
    const removed: RemovedBackend[] = [];
    for (const key of new Set(changed)) {
      const fe = model.frontends.get(key);
      const have = state.entries.get(key);
      if (!fe && !have) continue;
      if (!fe && have) {
        ops.push({ op: 'delete-service', id: have.service.id });
        for (const d of have.dests.values()) removed.push(this.removedOf(key, have.frontend, d));
        const id = serviceIdKey(have.service.id);
        for (const k of [...this.draining.keys()]) if (k.startsWith(`${id}|`)) this.draining.delete(k);
        state.entries.delete(key);
        continue;
      }
      const front = fe as Frontend;
      const want = ipvsServiceOf(front, f);
      const dests = new Map(destinationsOf(front).map((d) => [destKey(d.address, d.port), d]));
      if (!have) {
        ops.push({ op: 'add-service', service: want }, ...[...dests.values()].map((d): IpvsOp => ({ op: 'add-dest', service: want.id, dest: d })));
        state.entries.set(key, { frontend: front, service: want, dests });
        continue;
      }
      if (!sameService(have.service, want)) ops.push({ op: 'update-service', service: want });
      const id = serviceIdKey(want.id);
      for (const [dk, d] of dests) {
        const h = have.dests.get(dk);
        const drainKey = `${id}|${dk}`;
        if (this.draining.has(drainKey)) {
          // Back before it finished draining: weight up again.
          this.draining.delete(drainKey);
          ops.push({ op: 'update-dest', service: want.id, dest: d });
        } else if (!h) ops.push({ op: 'add-dest', service: want.id, dest: d });
        else if (!sameDestination(h, d)) ops.push({ op: 'update-dest', service: want.id, dest: d });
      }
      for (const [dk, h] of have.dests) {
        if (dests.has(dk)) continue;
        removed.push(this.removedOf(key, have.frontend, h));
        if (this.opts.gracefulTermination) this.drain(want.id, h, ops);
        else ops.push({ op: 'delete-dest', service: want.id, address: h.address, port: h.port });
      }
      state.entries.set(key, { frontend: front, service: want, dests });
    }
    const next = this.desiredSets(model, state.entries, state.keptOwned);
    const delta = (before: Set<string>, after: Set<string>): { add: string[]; del: string[] } => ({ add: [...after].filter((x) => !before.has(x)), del: [...before].filter((x) => !after.has(x)) });
    const svip = delta(state.svip, next.svip);
    const svipPort = delta(state.svipPort, next.svipPort);
    const local = delta(state.localIPs, next.localIPs);
    const names = { svip: setName(SET_BASE.svip, f), svipPort: setName(SET_BASE.svipPort, f), local: setName(SET_BASE.localIPs, f) };
    const adds = [setDelta(names.svipPort, svipPort.add, []), setDelta(names.svip, svip.add, []), setDelta(names.local, local.add, [])].join('');
    if (adds !== '') await this.deps.ipset.restore(adds);
    await this.runOps(ops);
    const netOps = await this.vipOps(state.vips, next.vips, model);
    if (netOps.length > 0) await this.deps.netlink.apply(netOps);
    const dels = [setDelta(names.svip, [], svip.del), setDelta(names.svipPort, [], svipPort.del), setDelta(names.local, [], local.del)].join('');
    if (dels !== '') await this.deps.ipset.restore(dels);
    const chains = renderChains(model, ctx.opts);
    const text = chainsText(chains);
    const chainsChanged = text !== state.chains;
    if (chainsChanged) await this.writeChains(chains, false);
    Object.assign(state, { vips: next.vips, svip: next.svip, svipPort: next.svipPort, localIPs: next.localIPs, chains: text });
    const writes = ops.length + netOps.length + (chainsChanged ? 1 : 0) + svip.add.length + svip.del.length + svipPort.add.length + svipPort.del.length;
    return { mode: writes > 0 ? 'partial' : 'noop', writes, removedBackends: removed };
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
        const k = `${id}|${destKey(d.dest.address, d.dest.port)}`;
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

  private drain(service: IpvsServiceId, d: IpvsDestination, ops: IpvsOp[]): void {
    ops.push({ op: 'update-dest', service, dest: { ...d, weight: 0 } });
    this.draining.set(`${serviceIdKey(service)}|${destKey(d.address, d.port)}`, { service, dest: { ...d, weight: 0 }, deadline: this.deps.clock.monotonicMs() + this.opts.gracefulPeriodMs });
  }

  private removedOf(key: string, fe: Frontend, d: IpvsDestination): RemovedBackend {
    return { key, frontend: { ip: fe.ip, protocol: fe.protocol.toLowerCase(), port: fe.port, affinity: fe.affinitySeconds !== undefined }, backendIP: d.address, backendPort: d.port };
  }

  private excluded(ip: IP): boolean {
    return this.opts.excludedCidrs.some((c) => familyOf(c) === familyOf(ip) && cidrContains(c, ip));
  }

  /** `keptOwned`: services of ours we keep although unwanted (--excluded-cidrs); their records stay. */
  private desiredSets(model: FamilyModel, entries: ReadonlyMap<string, Entry>, keptOwned: ReadonlySet<string>): { vips: Set<IP>; svip: Set<string>; svipPort: Set<string>; localIPs: Set<string> } {
    const local = new Set(model.localIPs.filter((ip) => familyOf(ip) === this.family));
    const vips = new Set<IP>();
    const svipPort = new Set<string>(keptOwned);
    for (const e of entries.values()) {
      svipPort.add(svipPortEntry(e.frontend));
      if (isVip(e.frontend, local)) vips.add(e.frontend.ip);
    }
    return { vips, svip: new Set(vips), svipPort, localIPs: local };
  }

  private async ensureSets(ownedAdds: readonly string[]): Promise<void> {
    const f = this.family;
    const name = setName(SET_BASE.svipPort, f);
    await this.deps.ipset.restore(renderCreate({ name, type: 'hash:ip,port', family: f, entries: [] }) + '\n' + renderSetDelta(name, ownedAdds, []));
  }

  private async runOps(ops: readonly IpvsOp[]): Promise<void> {
    if (ops.length === 0) return;
    const res = await this.deps.ipvs.apply(ops);
    const failed = res.map((r, i) => ({ r, op: ops[i] as IpvsOp })).filter((x) => x.r !== undefined);
    if (failed.length === 0) return;
    for (const x of failed.slice(0, 5)) this.deps.logger.warn('IPVS op failed', { op: x.op.op, service: serviceIdKey(opService(x.op)), error: errorMessage(x.r) });
    throw new KubeRouterError(ErrorCode.ToolFailed, `${failed.length} of ${ops.length} IPVS ops failed; the next sync reconciles from a dump`);
  }

  /** VIP addresses on kube-dummy-if with a local route whose source is the node IP (upstream #376). */
  private async vipOps(before: Set<IP> | undefined, after: Set<IP>, model: FamilyModel): Promise<NetOp[]> {
    const ops: NetOp[] = [];
    let have = before;
    /** Full sync: the local routes of ours as they are, so that only missing or changed ones are written. */
    let routes: Map<string, string | undefined> | undefined;
    if (!have) {
      const links = await this.deps.netlink.links();
      const dummy = links.find((l) => l.name === DUMMY_IF);
      if (!dummy) ops.push({ op: 'link-add-dummy', name: DUMMY_IF });
      if (!dummy?.up) ops.push({ op: 'link-set', name: DUMMY_IF, up: true });
      // The kernel gives the interface an IPv6 link-local address of its own: never a VIP of ours.
      have = new Set(dummy ? (await this.deps.netlink.addresses(this.family)).filter((a) => a.dev === DUMMY_IF && !isLinkLocal(a.ip)).map((a) => a.ip) : []);
      routes = new Map((await this.deps.netlink.routes(this.family, { table: 255, protocol: KUBE_ROUTER_RT_PROTO })).map((r) => [r.dst.replace(/\/(32|128)$/, ''), r.src]));
    }
    const prefix = bitsOf(this.family);
    for (const ip of after) {
      const routeOk = routes ? routes.get(ip) === model.nodeIP : have.has(ip);
      if (!have.has(ip)) ops.push({ op: 'addr-add', dev: DUMMY_IF, ip, prefix });
      if (model.nodeIP && !routeOk) ops.push({ op: 'route-replace', route: { dst: hostCidr(ip) as CIDR, type: 'local', table: 255, dev: DUMMY_IF, src: model.nodeIP, protocol: KUBE_ROUTER_RT_PROTO, scope: 'host' } });
    }
    for (const ip of have) {
      if (after.has(ip)) continue;
      // (a full sync knows which local routes of ours exist; a partial one wrote them itself)
      if (routes ? routes.has(ip) : model.nodeIP) ops.push({ op: 'route-delete', route: { dst: hostCidr(ip) as CIDR, type: 'local', table: 255, dev: DUMMY_IF, protocol: KUBE_ROUTER_RT_PROTO } });
      ops.push({ op: 'addr-delete', dev: DUMMY_IF, ip, prefix });
    }
    return ops;
  }

  /** Our chains, rewritten whole; the jumps into them checked (and repaired) on full syncs. */
  private async writeChains(chains: IptablesChains, checkJumps: boolean): Promise<void> {
    const j = jumpRules(this.family);
    const filter = ['*filter', `:${CHAIN.services} - [0:0]`, ...chains.filter];
    const nat = ['*nat', `:${CHAIN.hairpin} - [0:0]`, `:${CHAIN.masquerade} - [0:0]`, ...chains.nat];
    if (checkJumps) {
      const count = (save: string, chain: string, rule: string): number => save.split('\n').filter((l) => l === `-A ${chain} ${rule}`).length;
      const fsave = await this.deps.iptables.save('filter');
      const nsave = await this.deps.iptables.save('nat');
      const fix = (out: string[], save: string, chain: string, rule: string, insert: boolean): void => {
        const n = count(save, chain, rule);
        if (n === 1) return;
        for (let i = 0; i < n; i++) out.push(`-D ${chain} ${rule}`);
        out.push(insert ? `-I ${chain} 1 ${rule}` : `-A ${chain} ${rule}`);
      };
      fix(filter, fsave, 'INPUT', j.filterInput, true);
      fix(nat, nsave, 'POSTROUTING', j.natMasquerade, true);
      fix(nat, nsave, 'POSTROUTING', j.natHairpin, true);
    }
    await this.deps.iptables.restore([...filter, 'COMMIT', ...nat, 'COMMIT', ''].join('\n'));
  }
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

/** Restore lines for one set's changes; nothing at all when there are none. */
function setDelta(name: string, add: readonly string[], del: readonly string[]): string {
  return add.length + del.length > 0 ? renderSetDelta(name, add, del) : '';
}

function chainsText(c: IptablesChains): string {
  return [...c.filter, ...c.nat].join('\n');
}
