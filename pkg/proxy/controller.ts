import { enabledFamilies } from '../options/config.js';
import { syncResultHook, type ControllerContext } from '../runtime/context.js';
import { nodeEventMatters, parseNode } from '../k8s/kinds/node.js';
import { objectKey, type StoreEvent } from '../k8s/object.js';
import type { Views } from '../k8s/watch-layer.js';
import type { Conntrack } from '../linux/conntrack.js';
import type { Nftables } from '../linux/nftables/types.js';
import type { Netlink } from '../linux/netlink/types.js';
import type { Ipvs } from '../linux/ipvs/types.js';
import type { Controller } from '../runtime/controller.js';
import { BoundedFrequencyRunner, type SyncTrigger } from '../runtime/runner.js';
import { collectGarbage } from '../runtime/memory.js';
import { errorMessage } from '../util/errors.js';
import type { Family, IP } from '../util/ip.js';
import type { Logger } from '../util/logger.js';
import { HealthCheckServers, type HealthCheckTarget } from './healthcheck.js';
import { proxyMetrics, type ProxyMetrics } from './metrics.js';
import { localReadyEndpoints } from './model/compute.js';
import { parseEndpointSlice } from '../k8s/kinds/endpoint-slice.js';
import { parseService, serviceParseConfig } from '../k8s/kinds/service.js';
import { eventTargetOf, type EventTarget } from '../k8s/events.js';
import { NFT_SCHEDULERS } from './nft/layout.js';
import type { FamilyModel, Frontend, NodeContext } from './model/types.js';
import { explainServices } from './inspect-services.js';
import type { InspectHandler } from '../runtime/inspect.js';
import type { ProxyBackend, RemovedBackend, SyncMode } from './backend.js';
import { createProxyBackends, type ProxyBackends } from './backends.js';
import { buildNodeContext, sameNodeContext } from './node-context.js';
import { ServiceTracker } from './tracker.js';
import { takeOver } from './takeover/run.js';
import { DsrPods } from './ipvs/dsr-pods.js';
import { containerIdOf, type ContainerRuntime } from '../cri/client.js';
import type { PodTunnels } from '../linux/podtunnel/types.js';
import type { ServiceInfo } from '../k8s/kinds/service.js';
import type { ResourceView } from '../k8s/watch-layer.js';
import { asArray, asRecord, asString } from '../util/json.js';

export interface ProxyDeps {
  readonly nft: Nftables;
  readonly netlink: Netlink;
  readonly conntrack: Conntrack;
  /** Opens the kernel's IPVS (generic netlink); undefined when the kernel has none. */
  readonly openIpvs: () => Promise<Ipvs | undefined>;
  /** DSR's pod side: entering a pod's network namespace, and the container runtime that names its process. */
  readonly podTunnels?: PodTunnels;
  readonly openCri?: (endpoint: string) => ContainerRuntime;
}

/**
 * The service proxy: Services + EndpointSlices → nftables (upstream kube-router's semantics on an O(1)
 * datapath). Informer handlers only record changes; one sync at a time computes the dirty services,
 * renders the difference and applies it in one transaction per family; side effects (conntrack,
 * affinity cleanup, health check ports, metrics, heartbeat) run after a successful commit.
 */
export class ProxyController implements Controller {
  readonly name = 'NetworkServicesController';
  readonly syncPeriodMs: number;
  private readonly views: Views<'services' | 'endpointSlices' | 'nodes'>;
  private readonly tracker: ServiceTracker;
  private backends: ProxyBackend[] = [];
  private datapath: ProxyBackends | undefined;
  private drainTimer: ReturnType<ControllerContext['clock']['setTimeout']> | undefined;
  private readonly runner: BoundedFrequencyRunner;
  private readonly logger: Logger;
  private readonly metrics: ProxyMetrics;
  private readonly healthChecks: HealthCheckServers;
  private readonly families: Family[];
  private readonly unsubscribe: (() => void)[] = [];
  private node: NodeContext | undefined;
  /** The frontends in the kernel, per family, as last committed (what the router may advertise). */
  private readonly committed = new Map<Family, Map<string, Frontend>>();
  private nodeDirty = true;
  private localIPs: IP[] = [];
  private readonly ipvsOnly = new Map<string, { readonly limits: string; readonly object: EventTarget }>();
  /** Pods, only with a container runtime configured (DSR reads their container ids). */
  private readonly pods: ResourceView | undefined;
  private cri: ContainerRuntime | undefined;
  private readonly pids = new Map<string, number>();
  private readonly pendingTimers = new Set<ReturnType<ControllerContext['clock']['setTimeout']>>();

  /** `kube-router proxy services [NS/NAME]`: each frontend as wanted and as the kernel holds it. */
  readonly inspect: Readonly<Record<string, InspectHandler>> = {
    '/proxy/services': async (q) => {
      const node = this.node;
      if (!node || this.backends.length === 0) throw new Error('the service proxy has not synced yet');
      const families = [];
      for (const b of this.backends) families.push({ model: this.tracker.model(b.family, node), programmed: await b.programmed() });
      const service = q.get('service') ?? undefined;
      return explainServices(families, this.backends[0]?.kind ?? 'nftables', service === '' ? undefined : service);
    },
  };

  constructor(
    private readonly ctx: ControllerContext,
    private readonly deps: ProxyDeps,
  ) {
    const cfg = ctx.config;
    this.syncPeriodMs = cfg.proxy.syncPeriodMs;
    this.logger = ctx.logger.child('proxy');
    this.families = enabledFamilies(cfg);
    // Services and slices are parsed on arrival and kept parsed here: the cache needs only metadata.
    this.views = { ...ctx.watch.viewsWith({ cache: 'metadata' }, 'services', 'endpointSlices'), ...ctx.watch.views('nodes') };
    this.pods = cfg.runtimeEndpoint !== '' && deps.podTunnels && deps.openCri ? ctx.watch.views('pods').pods : undefined;
    this.tracker = new ServiceTracker(this.families);
    this.metrics = proxyMetrics(ctx.metrics);
    this.healthChecks = new HealthCheckServers(this.logger);
    this.runner = new BoundedFrequencyRunner((t) => this.sync(t), { name: this.name, minIntervalMs: 0, maxIntervalMs: this.syncPeriodMs, retryAfterMs: 1000, onResult: syncResultHook(ctx, this.name) }, ctx.clock, this.logger);
    // Handlers only record changes, so they run from the first listed object on (parsing overlaps the
    // initial list); nothing is applied before start(), which the daemon calls once caches synced.
    this.unsubscribe.push(this.views.services.subscribe(this.onService), this.views.endpointSlices.subscribe(this.onSlice), this.views.nodes.subscribe(this.onNode));
    ctx.servedFrontends?.attach((family, key) => {
      const fe = this.committed.get(family)?.get(key);
      return fe === undefined ? 'absent' : fe.backends.length > 0 ? 'served' : 'no-endpoints';
    });
  }

  /** Records what one family's sync committed (every frontend after a full one); whether a frontend changed. */
  private noteCommitted(family: Family, model: FamilyModel, keys: Iterable<string> | 'all'): boolean {
    if (keys === 'all') {
      this.committed.set(family, new Map(model.frontends));
      return true;
    }
    let m = this.committed.get(family);
    if (!m) this.committed.set(family, (m = new Map<string, Frontend>()));
    let any = false;
    for (const k of keys) {
      const fe = model.frontends.get(k);
      if (m.get(k) === fe) continue;
      any = true;
      if (fe) m.set(k, fe);
      else m.delete(k);
    }
    return any;
  }

  private async chooseBackend(): Promise<void> {
    const k = this.ctx.kernel;
    const tunnels = this.deps.podTunnels;
    const dsrPods = this.pods && tunnels ? new DsrPods({ tunnels, pidOf: (pod) => this.pidOf(pod), logger: this.logger }) : undefined;
    this.datapath = await createProxyBackends(this.ctx.config.proxy, this.families, { nft: this.deps.nft, netlink: this.deps.netlink, iptables: k.iptables, ipset: k.ipset, sysctl: k.sysctl, openIpvs: this.deps.openIpvs, metrics: this.ctx.metrics, clock: this.ctx.clock, logger: this.logger, ...(dsrPods ? { dsrPods } : {}) }, () => this.frontendNames());
    this.backends = [...this.datapath.backends];
    this.metrics.backendInfo.set({ backend: this.datapath.kind }, 1);
  }

  /** What kube-proxy or an upstream kube-router left on the node goes (or is adopted) before our first sync. */
  private async takeOver(): Promise<void> {
    const k = this.ctx.kernel;
    const backend = this.datapath?.kind ?? 'nftables';
    try {
      await takeOver({ nft: this.deps.nft, iptables: k.iptables, ipset: k.ipset, netlink: this.deps.netlink, openIpvs: backend === 'nftables' ? this.deps.openIpvs : () => Promise.resolve(undefined), logger: this.logger }, this.families, { backend, cleanupKubeProxy: this.ctx.config.proxy.cleanupKubeProxy });
    } catch (e) {
      this.logger.warn('could not read what an earlier service proxy left on the node; starting anyway', { error: errorMessage(e) });
    }
  }

  /** `address|proto|port` → `namespace/name` of every applied frontend, for the IPVS service metrics. */
  private frontendNames(): Map<string, string> {
    const out = new Map<string, string>();
    for (const f of this.families) for (const fe of this.tracker.model(f, this.node ?? emptyNode()).frontends.values()) out.set(`${fe.ip}|${fe.protocol.toLowerCase()}|${fe.port}`, fe.service);
    return out;
  }

  private onService = (e: StoreEvent): void => {
    const key = objectKey(e.obj);
    if (e.type === 'delete') {
      this.tracker.setService(key, undefined);
      this.ipvsOnly.delete(key);
    } else {
      const r = parseService(e.obj, serviceParseConfig(this.ctx.config));
      if (r.kind === 'service') {
        if (r.problems.length > 0) this.ctx.rejections.reject({ controller: 'proxy', kind: 'Service', reason: 'Malformed', message: `fields ignored: ${r.problems.join('; ')}`, object: eventTargetOf(e.obj, 'Service', 'v1'), count: r.problems.length });
        this.tracker.setService(key, r.service);
        this.noteDatapathLimits(key, r.service, eventTargetOf(e.obj, 'Service', 'v1'));
      } else {
        if (r.kind === 'rejected') {
          this.ctx.rejections.reject({ controller: 'proxy', kind: 'Service', reason: r.budget ? 'OverBudget' : 'Malformed', message: `not served: ${r.reason}`, object: eventTargetOf(e.obj, 'Service', 'v1') });
        } else this.logger.v(2, 'service skipped', { service: key, reason: r.reason });
        this.tracker.setService(key, undefined);
      }
    }
    this.runner.run();
  };

  /**
   * What the nftables datapath cannot honour (IPVS-only schedulers: lc, sed, nq, wrr, wlc need IPVS's
   * per-backend state; DSR needs IPVS's tunnel forwarding) is a Warning on the Service once the datapath
   * is known, and again when it changes.
   */
  private noteDatapathLimits(key: string, svc: ServiceInfo, object: EventTarget): void {
    const scheduler = svc.ports[0]?.scheduler ?? 'rr';
    const limits = [
      ...(NFT_SCHEDULERS.has(scheduler) ? [] : [`kube-router.io/service.scheduler ${scheduler} needs the IPVS datapath; new connections are spread at random (nftables honours rr, sh, dh and mh)`]),
      ...(svc.ports.some((p) => p.dsr) ? ['kube-router.io/service.dsr needs the IPVS datapath; served with NAT'] : []),
    ].join('; ');
    if (limits === '') {
      this.ipvsOnly.delete(key);
      return;
    }
    if (this.ipvsOnly.get(key)?.limits === limits) return;
    this.ipvsOnly.set(key, { limits, object });
    if (this.datapath) this.warnDatapathLimits(limits, object);
  }

  private warnDatapathLimits(limits: string, object: EventTarget): void {
    if (this.datapath?.kind !== 'nftables') return;
    this.ctx.rejections.reject({ controller: 'proxy', kind: 'Service', reason: 'Unsupported', message: `this node's nftables datapath cannot honour: ${limits}`, object });
  }

  /** A pod's process id, from its first container's id in its status, through the container runtime. */
  private async pidOf(pod: string): Promise<number> {
    const obj = this.pods?.get(pod);
    if (!obj) throw new Error(`pod ${pod} is not known`);
    const statuses = asArray(asRecord(obj.raw['status'])?.['containerStatuses']);
    const ref = statuses.map((c) => asString(asRecord(c)?.['containerID']) ?? '').find((id) => id !== '');
    if (!ref) throw new Error(`pod ${pod} has no container id in its status yet`);
    const id = containerIdOf(ref);
    const known = this.pids.get(id);
    if (known !== undefined) return known;
    if (!this.cri) this.cri = (this.deps.openCri as (e: string) => ContainerRuntime)(this.ctx.config.runtimeEndpoint);
    const pid = await this.cri.containerPid(id);
    if (this.pids.size >= 4096) this.pids.clear();
    this.pids.set(id, pid);
    return pid;
  }

  private onSlice = (e: StoreEvent): void => {
    const key = objectKey(e.obj);
    if (e.type === 'delete') this.tracker.setSlice(key, undefined);
    else {
      const r = parseEndpointSlice(e.obj);
      if (r.kind === 'slice') {
        if (r.slice.problems.length > 0) {
          this.ctx.rejections.reject({ controller: 'proxy', kind: 'EndpointSlice', reason: 'Malformed', message: `entries ignored: ${r.slice.problems.join('; ')}`, object: eventTargetOf(e.obj, 'EndpointSlice', 'discovery.k8s.io/v1'), count: r.slice.problems.length });
        }
        this.tracker.setSlice(key, r.slice);
      } else this.tracker.setSlice(key, undefined);
    }
    this.runner.run();
  };

  private onNode = (e: StoreEvent): void => {
    if (!nodeEventMatters(e)) return;
    this.nodeDirty = true;
    this.runner.run();
  };

  async start(): Promise<void> {
    await this.chooseBackend();
    await this.takeOver();
    for (const w of this.ipvsOnly.values()) this.warnDatapathLimits(w.limits, w.object);
    this.runner.start();
  }

  async stop(): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    await this.runner.stop();
    if (this.drainTimer) this.ctx.clock.clearTimeout(this.drainTimer);
    this.datapath?.close();
    this.cri?.close();
    for (const t of this.pendingTimers) this.ctx.clock.clearTimeout(t);
    await Promise.all(this.background);
    await this.healthChecks.close();
  }

  private async refreshNode(): Promise<void> {
    // The backend's own service addresses (IPVS: on kube-dummy-if) are not node addresses.
    const addrs = [...(await this.deps.netlink.addresses(4)), ...(this.ctx.config.enableIPv6 ? await this.deps.netlink.addresses(6) : [])].filter((a) => a.dev !== this.datapath?.vipDevice);
    this.localIPs = addrs.map((a) => a.ip);
    const nodes = this.views.nodes.list().map(parseNode);
    const next = buildNodeContext(this.ctx.config.nodeName, nodes, this.localIPs, this.families, {
      bindOnAllIP: this.ctx.config.proxy.nodePortBindOnAllIP,
      ...(this.ctx.config.router.clusterCidr ? { clusterCidr: this.ctx.config.router.clusterCidr } : {}),
    });
    if (!sameNodeContext(this.node, next)) {
      this.node = next;
      this.tracker.markAllDirty();
    }
    this.nodeDirty = false;
  }

  private async sync(trigger: SyncTrigger): Promise<void> {
    const t0 = this.ctx.clock.monotonicMs();
    if (trigger === 'periodic') {
      for (const b of this.backends) {
        // (IPVS never claims to be intact: its periodic sync is always a reconcile against a dump)
        if (!(await b.intact())) {
          if (b.kind === 'nftables') this.logger.v(1, 'our nftables table is missing or was changed: full rebuild', { family: b.family });
          b.invalidate();
        }
      }
    }
    if (this.nodeDirty || trigger === 'periodic' || !this.node) await this.refreshNode();
    const node = this.node as NodeContext;
    const { services, changed, failures } = this.tracker.recompute(node);
    for (const f of failures) this.ctx.rejections.reject({ controller: 'proxy', kind: 'Service', reason: 'Malformed', message: `${f.service} could not be computed and is not served: ${f.error}` });
    const localSet = new Set<string>(node.localIPs);
    // Per-frontend traffic counters (nftables) exist while metrics are served: no endpoint, no cost.
    const renderCtx = { opts: { masqueradeAll: this.ctx.config.proxy.masqueradeAll, rejectUnserved: this.ctx.config.proxy.permitAll, serviceCounters: this.ctx.config.metrics.port !== 0 && this.ctx.config.proxy.serviceTrafficCounters }, isLocal: (ip: string) => localSet.has(ip) };
    let mode: SyncMode = 'noop';
    let writes = 0;
    const removed: { family: Family; r: RemovedBackend }[] = [];
    for (const b of this.backends) {
      const model = this.tracker.model(b.family, node);
      const keys = changed.get(b.family) ?? new Set<string>();
      const res = await b.sync(model, keys, renderCtx);
      if (res.mode === 'full' || (res.mode === 'partial' && mode === 'noop')) mode = res.mode;
      writes += res.writes;
      for (const r of res.removedBackends) removed.push({ family: b.family, r });
      // Told per family, right after its commit: a later family's failure must not leave it untold.
      if (this.noteCommitted(b.family, model, res.mode === 'full' ? 'all' : keys)) this.ctx.servedFrontends?.committed();
    }
    // After commit.
    if (mode !== 'noop') this.logger.v(2, 'kernel committed', { mode, services: services.length <= 5 ? services.join(',') : `${services.length} services` });
    const seconds = (this.ctx.clock.monotonicMs() - t0) / 1000;
    this.metrics.syncTime.observe(seconds);
    this.metrics.syncDuration.observe({ mode }, seconds);
    if (writes > 0) this.metrics.kernelWrites.inc({ mode }, writes);
    this.metrics.services.set(this.backends.reduce((n, b) => n + b.appliedFrontendCount(), 0));
    const now = this.ctx.clock.now();
    for (const s of services) {
      const tt = this.tracker.triggerTimeOf(s);
      if (tt !== undefined && now >= tt) this.metrics.programmingLatency.observe((now - tt) / 1000);
    }
    await this.afterCommit(removed);
    // A full rebuild of a large table leaves its garbage behind while the daemon then idles.
    if (mode === 'full' && services.length >= 1000) collectGarbage();
    this.ctx.health.beat(this.name);
    for (const f of this.families) for (const k of this.tracker.conflicts(f)) this.logger.v(1, 'two services claim one frontend; the first by namespace/name wins', { frontend: k });
    this.logger.v(1, 'proxy sync', { trigger, mode, services: services.length, writes, ms: Math.round(seconds * 1000) });
  }

  private async afterCommit(removed: { family: Family; r: RemovedBackend }[]): Promise<void> {
    // IPVS drains destinations itself (weight 0, deleted once idle or after the grace period).
    const graceful = this.ctx.config.proxy.gracefulTermination && !this.backends.some((b) => b.drainsGracefully);
    for (const b of this.backends) await b.tick?.().catch((e: unknown) => this.logger.warn('draining destinations failed', { error: errorMessage(e) }));
    if (this.backends.some((b) => b.drainsGracefully) && this.ctx.config.proxy.gracefulTermination && !this.drainTimer) {
      // Upstream checks draining destinations every 5 s; a sync with nothing to do runs the check.
      this.drainTimer = this.ctx.clock.setTimeout(() => {
        this.drainTimer = undefined;
        this.runner.run();
      }, 5000);
    }
    const udp: Parameters<Conntrack['deleteFlows']>[0][] = [];
    for (const { r } of removed) {
      const flow = { protocol: r.frontend.protocol as 'tcp' | 'udp' | 'sctp', origDst: r.frontend.ip as IP, origDport: r.frontend.port, replySrc: r.backendIP as IP };
      // Stale UDP flows would keep sending to a backend that is gone: remove them now. TCP flows
      // finish on their own, or after the grace period with --ipvs-graceful-termination.
      if (flow.protocol === 'udp') udp.push(flow);
      else if (graceful) {
        const t = this.ctx.clock.setTimeout(() => {
          this.pendingTimers.delete(t);
          this.deps.conntrack.deleteFlows(flow).catch((e: unknown) => this.logger.warn('conntrack cleanup failed', { error: errorMessage(e) }));
        }, this.ctx.config.proxy.gracefulPeriodMs);
        this.pendingTimers.add(t);
      }
    }
    // Stale UDP flows go in the background, a few conntrack processes at a time: a large endpoint
    // change must not hold the sync (and its heartbeat) for one process per backend in a row.
    if (udp.length > 0) this.track(this.deleteFlows(udp));
    for (const b of this.backends) {
      const gone = removed.filter((x) => x.family === b.family && x.r.frontend.affinity).map((x) => x.r);
      if (gone.length > 0) await b.dropAffinity?.(gone);
    }
    await this.updateHealthChecks();
  }

  private readonly background = new Set<Promise<void>>();

  private track(p: Promise<void>): void {
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  private async deleteFlows(flows: readonly Parameters<Conntrack['deleteFlows']>[0][]): Promise<void> {
    const queue = [...flows];
    const worker = async (): Promise<void> => {
      for (let f = queue.shift(); f; f = queue.shift()) await this.deps.conntrack.deleteFlows(f).catch((e: unknown) => this.logger.warn('conntrack cleanup failed', { error: errorMessage(e) }));
    };
    await Promise.all(Array.from({ length: Math.min(4, queue.length) }, worker));
  }

  private async updateHealthChecks(): Promise<void> {
    const node = this.node;
    if (!node) return;
    const desired = new Map<number, HealthCheckTarget>();
    for (const [key, svc] of this.tracker.serviceList()) {
      for (const sp of svc.ports) {
        if (sp.healthCheckNodePort === undefined) continue;
        const prev = desired.get(sp.healthCheckNodePort);
        desired.set(sp.healthCheckNodePort, { namespace: svc.namespace, name: svc.name, localEndpoints: (prev?.localEndpoints ?? 0) + localReadyEndpoints(sp, this.tracker.endpointsOf(key), node) });
      }
    }
    await this.healthChecks.update(desired);
  }
}

function emptyNode(): NodeContext {
  return { name: '', nodePortIPs: { 4: [], 6: [] }, podCIDRs: [], localIPs: [], primaryIPs: {} };
}

export function proxyControllerFactory(deps: (ctx: ControllerContext) => ProxyDeps): (ctx: ControllerContext) => Controller {
  return (ctx) => new ProxyController(ctx, deps(ctx));
}
