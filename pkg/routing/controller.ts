import type { KubeObject } from '../k8s/object.js';
import { eventTargetOf } from '../k8s/events.js';
import { objectKey, type StoreEvent } from '../k8s/object.js';
import { clusterPodCIDRs, nodePodCIDRs, nodeEventMatters, parseNode, podCIDRsOutsideCluster, primaryIP, type NodeInfo } from '../k8s/kinds/node.js';
import { parseService, serviceParseConfig, type ServiceInfo } from '../k8s/kinds/service.js';
import type { Views } from '../k8s/watch-layer.js';
import { KUBE_ROUTER_RT_PROTO, type Address, type Link } from '../linux/netlink/types.js';
import { realTcpMd5, type TcpMd5 } from '../linux/tcp-md5.js';
import { realTcpSockets, type TcpSockets } from '../linux/tcp-socket.js';
import { runUpstreamMigration } from './migrate-upstream.js';
import { errorMessage } from '../util/errors.js';
import { enabledFamilies } from '../options/config.js';
import { syncResultHook, type ControllerContext } from '../runtime/context.js';
import type { Controller } from '../runtime/controller.js';
import { BoundedFrequencyRunner, type SyncTrigger } from '../runtime/runner.js';
import type { CIDR, Family, IP } from '../util/ip.js';
import type { Logger } from '../util/logger.js';
import { planBgp, type BgpPlan } from './bgp-plan.js';
import { DEFAULT_CNI_CONF, overlayOverhead, updateCniConf } from './cni-config.js';
import { chooseAddress } from './iface.js';
import { peerMetrics, routingMetrics, type RoutingMetrics } from './metrics.js';
import { RouteApplier } from './route-apply.js';
import { computeRouteModel, MAIN_TABLE, overlayChoice, routeDecider, type RouteDecision, type RouteModelInput } from './route-model.js';
import { learnedDelta } from './learned-delta.js';
import { withNexthop, type NexthopState } from './nexthops.js';
import type { BestChange } from '../bgp/speaker/speaker.js';
import type { LearnedPath } from '../bgp/speaker/rib.js';
import type { Route } from '../linux/netlink/types.js';
import { advertisesByAnnotation, servedBy, sliceLocalReady, vipsToAdvertise } from './service-vips.js';
import { SpeakerHost } from './speaker-host.js';
import type { BfdTransport } from '../bfd/transport.js';
import { udpBfdTransport } from '../bfd/udp-transport.js';
import { explainRoutes } from './inspect-routes.js';
import { isOurRule } from './route-diff.js';
import type { InspectHandler } from '../runtime/inspect.js';

/** Kernel modules each encapsulation needs (vxlan is always there). */
const ENCAP_MODULES: Readonly<Record<'ipip' | 'fou', readonly string[]>> = { ipip: ['ipip', 'ip6_tunnel'], fou: ['ipip', 'ip6_tunnel', 'fou', 'fou6'] };

/**
 * The router (NetworkRoutesController). Each sync: the CNI config (pod CIDRs as host-local ranges,
 * MTU); the BGP plan from Node objects (iBGP mesh, route reflectors) and flags/annotations (external
 * peers) given to our speaker with this node's pod CIDRs and the service VIPs to advertise; then one
 * RouteModel computed from the speaker's best paths, the nodes and the config (routes, tunnels,
 * policy routing, FORWARD and pod-egress state) and applied by the kernel adapters. A step that fails
 * does not stop the others; the sync is retried.
 */
export class RoutingController implements Controller {
  readonly name = 'NetworkRoutesController';
  readonly syncPeriodMs: number;
  private readonly views: Views<'nodes' | 'services' | 'endpointSlices'>;
  /** Services and which of them have a ready endpoint here, parsed on arrival (for VIP advertisement). */
  private readonly vipServices = new Map<string, ServiceInfo>();
  private readonly localSlices = new Map<string, { readonly service: string; readonly localReady: boolean }>();
  /** Service addresses the last sync would have advertised but this node's proxy had not committed yet. */
  private vipsWithheld = 0;
  private readonly unsubscribe: (() => void)[] = [];
  private unwatchRoutes: (() => void) | undefined;
  /** When the kernel state we only write on change (sysctls, chains, sets, tunnel neighbours) was last re-checked. */
  private lastKernelCheck: number | undefined;
  private warnedEncap = false;
  private modulesTried = false;
  /** Graceful restart (RFC 4724 4.1): until the peers' End-of-RIB or the deferral time, keep the routes a previous run installed. */
  private deferUntil: number | undefined;
  private deferTimer: ReturnType<ControllerContext['clock']['setTimeout']> | undefined;
  private readonly runner: BoundedFrequencyRunner;
  private readonly logger: Logger;
  private readonly metrics: RoutingMetrics;
  private readonly families: Family[];
  private readonly host: SpeakerHost;
  private readonly applier: RouteApplier;
  /** The last whole sync's inputs but the best paths: `kube-router routes` decides with them and today's paths. */
  private lastInput: Omit<RouteModelInput, 'best'> | undefined;
  /**
   * After a whole sync that applied: how learned paths are decided and the learned routes in place.
   * A change of best paths then only writes its own prefixes' routes (learnedDelta) while UPDATEs are
   * still arriving; anything else, or a failure, clears it and the next run is a whole sync.
   */
  private learned: { readonly decide: (p: LearnedPath) => RouteDecision | undefined; readonly installed: Map<string, Route>; nexthops: NexthopState | undefined } | undefined;
  /** Prefixes whose best path changed since the last run looked at them. */
  private dirty = new Set<string>();
  /** Something other than best paths changed (or a table went whole): the next run is a whole sync. */
  private fullPending = true;

  /** `kube-router bgp peers|routes` and `kube-router routes` read these over the local socket. */
  readonly inspect: Readonly<Record<string, InspectHandler>> = {
    '/bgp/peers': () => Promise.resolve(this.host.speaker?.status() ?? []),
    '/bgp/routes': () => Promise.resolve([...(this.host.speaker?.best().values() ?? [])].map((p) => ({ prefix: p.prefix, nextHop: p.nextHop, peer: p.peer, asPath: p.asPath, localPref: p.localPref ?? null, communities: p.communities, stale: p.stale ?? false }))),
    '/routes': async () => {
      const nl = this.ctx.kernel.netlink;
      const routes = (await Promise.all(this.families.map((f) => nl.routes(f, { table: 'all', protocol: KUBE_ROUTER_RT_PROTO })))).flat();
      const rules = (await Promise.all(this.families.map((f) => nl.rules(f)))).flat().filter(isOurRule);
      const best = [...(this.host.speaker?.best().values() ?? [])];
      return explainRoutes(this.lastInput ? computeRouteModel({ ...this.lastInput, best }) : undefined, best, routes, rules);
    },
  };

  constructor(
    private readonly ctx: ControllerContext,
    md5: TcpMd5 = realTcpMd5(),
    sockets: TcpSockets = realTcpSockets(md5),
    bfdTransport: (logger: Logger) => BfdTransport = (logger) => udpBfdTransport({ logger }),
  ) {
    this.syncPeriodMs = ctx.config.router.syncPeriodMs;
    this.logger = ctx.logger.child('routing');
    this.views = { ...ctx.watch.views('nodes'), ...ctx.watch.viewsWith({ cache: 'metadata' }, 'services', 'endpointSlices') };
    this.unsubscribe.push(this.views.services.subscribe(this.onService), this.views.endpointSlices.subscribe(this.onSlice));
    // A withheld address is advertised once the proxy has committed it.
    const served = ctx.servedFrontends;
    if (served) this.unsubscribe.push(served.subscribe(() => {
      if (this.vipsWithheld > 0) this.requestSync();
    }));
    this.metrics = routingMetrics(ctx.metrics);
    this.families = enabledFamilies(ctx.config);
    this.runner = new BoundedFrequencyRunner((trigger) => this.run(trigger), { name: this.name, minIntervalMs: 0, maxIntervalMs: Math.min(this.syncPeriodMs, ctx.config.router.injectedRoutesSyncPeriodMs), retryAfterMs: 2000, onResult: syncResultHook(ctx, this.name) }, ctx.clock, this.logger);
    this.host = new SpeakerHost({ clock: ctx.clock, logger: this.logger, metrics: this.metrics, md5, sockets, bfdTransport, onBestChange: (c) => this.onBestChange(c) });
    peerMetrics(ctx.metrics, () => this.host.speaker?.status() ?? []);
    this.applier = new RouteApplier(ctx.kernel, this.logger);
    // Routes are always written: the writer thread loads while the informers sync.
    ctx.kernel.netlink.warm?.();
  }

  /** Problems found on every sync are reported when they change, not once per sync. */
  private readonly reported = new Map<string, string>();
  private reportOnce(what: string, problems: readonly string[]): boolean {
    const key = problems.join('\n');
    if (this.reported.get(what) === key) return false;
    this.reported.set(what, key);
    return true;
  }

  private onService = (e: StoreEvent): void => {
    const key = objectKey(e.obj);
    const r = e.type === 'delete' ? undefined : parseService(e.obj, serviceParseConfig(this.ctx.config));
    if (r?.kind === 'service') this.vipServices.set(key, r.service);
    else this.vipServices.delete(key);
    if (this.advertisesVips()) this.requestSync();
  };

  private onSlice = (e: StoreEvent): void => {
    const key = objectKey(e.obj);
    const before = this.localSlices.get(key);
    const v = e.type === 'delete' ? undefined : sliceLocalReady(e.obj, this.ctx.config.nodeName);
    if (v) this.localSlices.set(key, v);
    else this.localSlices.delete(key);
    if (this.advertisesVips() && before?.localReady !== v?.localReady) this.requestSync();
  };

  private advertisesVips(): boolean {
    const r = this.ctx.config.router;
    return r.advertiseClusterIP || r.advertiseExternalIP || r.advertiseLoadBalancerIP || [...this.vipServices.values()].some(advertisesByAnnotation);
  }

  private vips(): CIDR[] {
    const local = new Set<string>();
    for (const s of this.localSlices.values()) if (s.localReady) local.add(s.service);
    const r = this.ctx.config.router;
    const served = this.ctx.servedFrontends;
    const check = served?.attached === true ? servedBy((f, k) => served.state(f, k), this.families) : undefined;
    const { vips, withheld } = vipsToAdvertise(this.vipServices, (svc) => local.has(svc), { clusterIP: r.advertiseClusterIP, externalIP: r.advertiseExternalIP, loadBalancerIP: r.advertiseLoadBalancerIP }, check);
    this.vipsWithheld = withheld;
    return vips;
  }

  start(): Promise<void> {
    this.unsubscribe.push(this.views.nodes.subscribe((e) => {
      if (nodeEventMatters(e)) this.requestSync();
    }));
    // A route of ours deleted by someone else is put back right away, not at the next period.
    this.unwatchRoutes = this.ctx.kernel.netlink.watchRouteDeletions(KUBE_ROUTER_RT_PROTO, () => this.requestSync());
    this.runner.start();
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    this.unwatchRoutes?.();
    if (this.deferTimer) this.ctx.clock.clearTimeout(this.deferTimer);
    await this.runner.stop();
    await this.host.stop(this.ctx.config.router.gracefulRestart.enabled);
  }

  /** A whole sync is wanted. */
  private requestSync(): void {
    this.fullPending = true;
    this.runner.run();
  }

  private onBestChange(c: BestChange): void {
    if (c.kind === 'all') this.fullPending = true;
    // The speaker hands over a set of its own (100,000 prefixes are not copied).
    else if (this.dirty.size === 0) this.dirty = c.prefixes;
    else for (const k of c.prefixes) this.dirty.add(k);
    this.runner.run();
  }

  /** A run asked for by best paths alone writes only their routes when it can; every other run is a whole sync. */
  private async run(trigger: SyncTrigger): Promise<void> {
    if (trigger === 'request' && !this.fullPending && this.learned && (await this.syncLearned(this.learned))) return;
    this.fullPending = false;
    await this.sync();
  }

  /** The routes of the prefixes whose best path changed; false when a whole sync is needed instead. */
  private async syncLearned(st: NonNullable<RoutingController['learned']>): Promise<boolean> {
    const sp = this.host.speaker;
    if (!sp || this.deferring()) return false;
    const t0 = performance.now();
    const delta = learnedDelta(this.dirty, sp.best(), st.decide, st.installed, st.nexthops);
    if (delta.kind === 'full') {
      this.logger.v(2, 'learned routes: a whole sync is needed', { reason: delta.reason });
      return false;
    }
    // Changes from here on are the next run's.
    this.dirty.clear();
    if (delta.ops.length > 0) {
      this.learned = undefined;
      try {
        await this.ctx.kernel.netlink.apply(delta.ops);
      } finally {
        this.metrics.routesSyncTime.observe((performance.now() - t0) / 1000);
      }
      for (const o of delta.ops) {
        if (o.op === 'route-replace') st.installed.set(o.route.dst, o.route);
        else if (o.op === 'route-delete') st.installed.delete(o.route.dst);
      }
      st.nexthops = delta.nexthops;
      this.learned = st;
      this.metrics.routesSynced.set(st.installed.size);
      if (delta.added > 0) this.metrics.routesAdded.inc(delta.added);
      if (delta.removed > 0) this.metrics.routesRemoved.inc(delta.removed);
      this.logger.v(1, 'learned routes synced', { added: delta.added, removed: delta.removed });
    }
    this.ctx.health.beat(this.name);
    return true;
  }

  /** Whether the one-time takeover from upstream kube-router ran (after the first successful sync). */
  private migrated = false;

  private async sync(): Promise<void> {
    const cfg = this.ctx.config;
    const selfObj: KubeObject | undefined = this.views.nodes.get(cfg.nodeName);
    if (!selfObj) {
      this.logger.warn('this node has no Node object yet', { node: cfg.nodeName });
      this.ctx.health.beat(this.name);
      return;
    }
    const self = parseNode(selfObj);
    if (self.problems.length > 0 && this.reportOnce('node', self.problems)) this.ctx.rejections.reject({ controller: 'routing', kind: 'Node', reason: 'Malformed', message: `annotations ignored: ${self.problems.join('; ')}`, object: eventTargetOf(selfObj, 'Node', 'v1'), count: self.problems.length });
    const nodes = this.views.nodes.list().map(parseNode);
    const outside = podCIDRsOutsideCluster(self, cfg.router.clusterCidr);
    if (outside.length > 0 && this.reportOnce('outside', outside)) this.ctx.rejections.reject({ controller: 'routing', kind: 'Node', reason: 'OutOfRange', message: `pod CIDRs outside --cluster-cidr ${cfg.router.clusterCidr ?? ''} ignored: ${outside.join(', ')}`, object: eventTargetOf(selfObj, 'Node', 'v1') });
    const started = performance.now();
    const now = this.ctx.clock.monotonicMs();
    const checkKernel = this.lastKernelCheck === undefined || now - this.lastKernelCheck >= this.syncPeriodMs;
    if (checkKernel) this.lastKernelCheck = now;
    const failures: unknown[] = [];
    // The node's links and addresses, read once per sync for every step that needs them.
    const nl = this.ctx.kernel.netlink;
    const [addresses, links] = await Promise.all([Promise.all(this.families.map((f) => nl.addresses(f))).then((a) => a.flat()), nl.links()]);
    if (cfg.router.enableCni) await this.writeCniConfig(self, addresses, links).catch((e: unknown) => failures.push(e));
    const plan = await this.syncBgp(nodes, addresses, links).catch((e: unknown) => {
      failures.push(e);
      return undefined;
    });
    await this.syncKernel(nodes, plan, checkKernel, addresses, links).catch((e: unknown) => failures.push(e));
    this.metrics.controllerRoutesSyncTime.observe((performance.now() - started) / 1000);
    if (failures.length > 0) throw failures[0];
    // Once our routes, tunnels and rules are in place, what upstream kube-router left goes.
    if (!this.migrated) {
      this.migrated = true;
      await runUpstreamMigration({ netlink: nl, iptables: this.ctx.kernel.iptables, logger: this.logger }, this.families, nodes.flatMap((n) => n.podCIDRs)).catch((e: unknown) => this.logger.warn("upstream kube-router's router objects could not be read", { error: errorMessage(e) }));
    }
    this.ctx.health.beat(this.name);
  }

  /** The CNI config with this node's pod CIDRs and, with --auto-mtu, the MTU of the node's interface less the overlay's overhead. */
  private async writeCniConfig(self: NodeInfo, addresses: readonly Address[], links: readonly Link[]): Promise<void> {
    const cfg = this.ctx.config;
    const file = cfg.router.cniConfFile;
    const podCIDRs = nodePodCIDRs(self, cfg.router.clusterCidr);
    const nodeIP = primaryIP(self, cfg.enableIPv4 ? 4 : 6);
    let mtu: number | undefined;
    if (cfg.router.autoMtu && nodeIP) {
      const dev = addresses.find((a) => a.ip === nodeIP)?.dev;
      const m = links.find((l) => l.name === dev)?.mtu;
      if (m !== undefined) mtu = cfg.router.overlay.enabled ? m - overlayOverhead(cfg.router.overlay.encap, nodeIP.includes(':')) : m;
    }
    const existing = await this.ctx.kernel.files.read(file);
    const r = updateCniConf(existing ?? JSON.stringify(DEFAULT_CNI_CONF, null, 2) + '\n', podCIDRs, mtu);
    if (r.kind === 'invalid') {
      this.ctx.rejections.reject({ controller: 'routing', kind: 'CNIConfig', reason: 'Malformed', message: `${file} left as it is: ${r.reason}` });
    } else if (r.changed || existing === undefined) {
      await this.ctx.kernel.files.write(file, r.text);
      this.logger.info('CNI config written', { file, podCIDRs: podCIDRs.join(','), mtu });
    }
  }

  /** Our advertised next hop per family: --iface / --iface-regex when given, else the Node's address. */
  private nextHopOverride(addrs: readonly Address[], links: readonly Link[]): Partial<Record<Family, IP>> {
    const out: Partial<Record<Family, IP>> = {};
    const iface = this.ctx.config.router.iface;
    if (iface.kind === 'default') return out;
    for (const f of this.families) {
      const ip = chooseAddress(iface, f, undefined, links, addrs);
      if (ip) out[f] = ip;
      else this.logger.warn('--iface/--iface-regex matches no interface with an address of this family: using the Node InternalIP', { family: f });
    }
    return out;
  }

  /** The BGP plan, given to the speaker with what we originate; undefined when BGP cannot run yet. */
  private async syncBgp(nodes: readonly NodeInfo[], addresses: readonly Address[], links: readonly Link[]): Promise<BgpPlan | undefined> {
    const cfg = this.ctx.config;
    const t0 = performance.now();
    const plan = planBgp(cfg.nodeName, nodes, cfg.router, { families: this.families, serviceRanges: [...cfg.serviceClusterIPRanges, ...cfg.serviceExternalIPRanges, ...cfg.loadBalancerIPRanges], nextHopOverride: this.nextHopOverride(addresses, links), nodeAddresses: addresses.map((a) => a.ip) });
    if ('error' in plan) {
      this.logger.warn('BGP not started', { reason: plan.error });
      return undefined;
    }
    if (plan.problems.length > 0 && this.reportOnce('plan', plan.problems)) this.ctx.rejections.reject({ controller: 'routing', kind: 'NodeAnnotation', reason: 'Malformed', message: `BGP annotations ignored: ${plan.problems.join('; ')}`, count: plan.problems.length });
    const r = cfg.router;
    const sp = await this.host.ensure(plan, { port: r.bgpPort, holdTimeMs: r.holdTimeMs, gracefulRestart: r.gracefulRestart, maxPrefixes: r.maxPrefixes, overrideNextHop: r.overrideNextHop });
    sp.setPeers(plan.peers);
    const vips = this.vips().map((prefix) => ({ prefix, communities: plan.vipCommunities, to: 'external' as const, ...(plan.prepend ? { prepend: plan.prepend } : {}) }));
    sp.setOriginations([...plan.originations, ...vips.filter((v) => this.families.some((f) => (f === 6) === v.prefix.includes(':')))]);
    this.metrics.internalPeersSyncTime.observe((performance.now() - t0) / 1000);
    return plan;
  }

  /** Whether the chosen encapsulation can be built here (loading its modules once where the host allows). */
  private async encapAvailable(links: readonly { readonly name: string }[]): Promise<boolean> {
    const ov = this.ctx.config.router.overlay;
    if (ov.encap === 'vxlan') return true;
    const modules = this.ctx.kernel.modules;
    if (ov.enabled && !this.modulesTried) {
      this.modulesTried = true;
      await modules.load(ENCAP_MODULES[ov.encap]);
    }
    const ok = ov.encap === 'ipip' ? links.some((l) => l.name === 'tunl0') || (await modules.present('ipip')) : await modules.present('fou');
    if (ov.enabled && !ok && !this.warnedEncap) {
      this.warnedEncap = true;
      this.logger.error(`overlay encapsulation ${ov.encap} is not available on this kernel (no ${ov.encap} module): routes to nodes in other subnets are not installed; use --overlay-encap=vxlan`, {});
    }
    return ok;
  }

  /** Graceful-restart deferral: whether the previous run's routes are still kept (and a wake-up when that ends). */
  private deferring(): boolean {
    const gr = this.ctx.config.router.gracefulRestart;
    const now = this.ctx.clock.monotonicMs();
    if (this.deferUntil === undefined) this.deferUntil = gr.enabled ? now + gr.deferralMs : 0;
    const sp = this.host.speaker;
    const nodePeers = sp ? sp.status().filter((x) => x.kind === 'node') : [];
    const deferring = now < this.deferUntil && !(sp && nodePeers.every((x) => sp.sentEndOfRib(x.address)));
    if (deferring && !this.deferTimer) {
      this.logger.v(1, 'graceful restart: keeping routes of the previous run until the peers have sent their tables', {});
      this.deferTimer = this.ctx.clock.setTimeout(() => this.requestSync(), Math.max(0, this.deferUntil - now) + 10);
    }
    return deferring;
  }

  /** Inputs read, the RouteModel computed once, then applied. */
  private async syncKernel(nodes: readonly NodeInfo[], plan: BgpPlan | undefined, checkKernel: boolean, addresses: readonly Address[], links: readonly Link[]): Promise<void> {
    const cfg = this.ctx.config;
    const ov = cfg.router.overlay;
    const t0 = performance.now();
    const available = await this.encapAvailable(links);
    // The best paths and the deferral decision are taken at one instant, after every await: a peer's
    // End-of-RIB arriving in between must not end the deferral for a table read before it (that
    // deleted the previous run's routes during a graceful restart: found by the lab).
    const sp = this.host.speaker;
    const keepUnwanted = plan !== undefined && this.deferring();
    const best = plan && sp ? [...sp.best().values()] : undefined;
    this.dirty.clear();
    this.learned = undefined;
    const input: Omit<RouteModelInput, 'best'> = {
      families: this.families,
      addresses,
      ownPrefixes: plan ? plan.originations.map((o) => o.prefix) : [],
      nextHop: plan?.nextHop ?? {},
      overlay: { enabled: ov.enabled, type: ov.type, encap: ov.encap === 'fou' ? { kind: 'fou', port: ov.port } : { kind: ov.encap }, available },
      ...(cfg.router.podEgress ? { podEgress: { podCIDRs: clusterPodCIDRs(nodes, cfg.router.clusterCidr), nodeIPs: nodes.flatMap((n) => [...n.internalIPs, ...n.externalIPs]) } } : {}),
    };
    const model = computeRouteModel({ ...input, ...(best ? { best } : {}) });
    this.lastInput = input;
    for (const d of model.decisions) if (d.kind === 'unreachable') this.logger.v(2, 'learned route not installed: next hop off our subnets and no overlay', { prefix: d.prefix, nextHop: d.nextHop });
    try {
      const r = await this.applier.apply(model, { checkKernel, keepUnwanted });
      // What is installed now is the model's (kept routes of a deferral are not: no shortcut then).
      if (model.learned && !keepUnwanted) {
        // Through nexthop objects when the kernel has them (the gateways' ids as the apply left them).
        const ids = r.nexthops?.ids;
        const installed = new Map(model.routes.filter((x) => x.table === MAIN_TABLE).map((x) => [x.dst as string, ids ? withNexthop(x, ids) : x]));
        this.learned = { decide: routeDecider(input.addresses, input.ownPrefixes, overlayChoice(input)), installed, nexthops: r.nexthops };
      }
      this.metrics.routesSynced.set(model.routes.length);
      if (r.added > 0) this.metrics.routesAdded.inc(r.added);
      if (r.removed > 0) this.metrics.routesRemoved.inc(r.removed);
      if (r.added + r.removed > 0) this.logger.v(1, 'routes synced', { added: r.added, removed: r.removed });
    } finally {
      this.metrics.routesSyncTime.observe((performance.now() - t0) / 1000);
    }
  }
}
