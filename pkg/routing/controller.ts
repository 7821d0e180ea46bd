import { enabledFamilies } from '../options/config.js';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ControllerContext } from '../runtime/context.js';
import { clusterPodCIDRs, nodePodCIDRs, parseNode, primaryIP } from '../k8s/kinds/node.js';
import type { Views } from '../k8s/watch-layer.js';
import type { Controller } from '../runtime/controller.js';
import { BoundedFrequencyRunner } from '../runtime/runner.js';
import type { Logger } from '../util/logger.js';
import { BgpSpeaker, type SpeakerConfig } from '../bgp/speaker/speaker.js';
import { ErrorCode, errorMessage, isKubeRouterError } from '../util/errors.js';
import { familyOf, type CIDR, type Family, type IP } from '../util/ip.js';
import { planBgp } from './bgp-plan.js';
import { chooseAddress } from './iface.js';
import { PodEgress } from './pod-egress.js';
import { ensureForwardRules } from './forward-rules.js';
import { realTcpMd5 } from '../linux/tcp-md5.js';
import { serveInspection } from './bgp-inspect.js';
import type { Server } from 'node:http';
import { advertisesByAnnotation, sliceLocalReady, vipsToAdvertise } from './service-vips.js';
import { parseService, serviceParseConfig, type ServiceInfo } from '../k8s/kinds/service.js';
import { objectKey, type StoreEvent } from '../k8s/object.js';
import { DEFAULT_CNI_CONF, overlayOverhead, updateCniConf } from './cni-config.js';
import { routingMetrics, type RoutingMetrics } from './metrics.js';
import { decideRoutes, syncRoutes, tunnelNodeRoutes, TUNNEL_RULE_PRIORITY, TUNNEL_TABLE, type RouteDecision } from './route-installer.js';
import { KUBE_ROUTER_RT_PROTO, type NetOp } from '../linux/netlink/types.js';
import { tunnelName, tunnelOps } from './overlay.js';

/**
 * The router (NetworkRoutesController): the CNI config (pod CIDRs as host-local ranges, MTU),
 * forwarding sysctls, and our BGP speaker: peers from Node objects (iBGP mesh, route reflectors) and
 * flags/annotations (external peers), this node's pod CIDRs advertised, learned routes installed as
 * direct routes when the next hop shares a subnet with us. Overlays and pod egress are issue 8.
 */
export class RoutingController implements Controller {
  readonly name = 'NetworkRoutesController';
  readonly syncPeriodMs: number;
  private readonly views: Views<'nodes' | 'services' | 'endpointSlices'>;
  /** Services and which of them have a ready endpoint here, parsed on arrival (for VIP advertisement). */
  private readonly vipServices = new Map<string, ServiceInfo>();
  private readonly localSlices = new Map<string, { readonly service: string; readonly localReady: boolean }>();
  private readonly unsubscribeVip: (() => void)[] = [];
  private inspection: Server | undefined;
  private unwatchRoutes: (() => void) | undefined;
  private counted = { received: 0, podRoute: 0, advertiseVip: 0, withdrawVip: 0 };
  private readonly podEgress: PodEgress;
  /** When the kernel state we only write on change (sysctls, FORWARD and nat rules, tunnel neighbours) was last re-checked. */
  private lastKernelCheck: number | undefined;
  private warnedEncap = false;
  private modulesTried = false;
  private tunnelPolicyKey = '';
  private fouReady = false;
  /** Graceful restart (RFC 4724 4.1): until the peers' End-of-RIB or the deferral time, keep the routes a previous run installed. */
  private deferUntil: number | undefined;
  private deferTimer: ReturnType<ControllerContext['clock']['setTimeout']> | undefined;
  private readonly runner: BoundedFrequencyRunner;
  private readonly logger: Logger;
  private unsubscribe: (() => void) | undefined;
  private speaker: { readonly key: string; readonly speaker: BgpSpeaker; readonly off: () => void } | undefined;
  private readonly metrics: RoutingMetrics;
  private readonly families: Family[];

  constructor(private readonly ctx: ControllerContext) {
    this.syncPeriodMs = ctx.config.router.syncPeriodMs;
    this.logger = ctx.logger.child('routing');
    this.views = { ...ctx.watch.views('nodes'), ...ctx.watch.viewsWith({ cache: 'metadata' }, 'services', 'endpointSlices') };
    this.unsubscribeVip.push(this.views.services.subscribe(this.onService), this.views.endpointSlices.subscribe(this.onSlice));
    this.metrics = routingMetrics(ctx.metrics);
    this.podEgress = new PodEgress(ctx.kernel.iptables, ctx.kernel.ipset);
    this.families = enabledFamilies(ctx.config);
    this.runner = new BoundedFrequencyRunner(() => this.sync(), { name: this.name, minIntervalMs: 0, maxIntervalMs: Math.min(this.syncPeriodMs, ctx.config.router.injectedRoutesSyncPeriodMs), retryAfterMs: 2000 }, ctx.clock, this.logger);
  }

  private onService = (e: StoreEvent): void => {
    const key = objectKey(e.obj);
    const r = e.type === 'delete' ? undefined : parseService(e.obj, serviceParseConfig(this.ctx.config));
    if (r?.kind === 'service') this.vipServices.set(key, r.service);
    else this.vipServices.delete(key);
    if (this.advertisesVips()) this.runner.run();
  };

  private onSlice = (e: StoreEvent): void => {
    const key = objectKey(e.obj);
    const before = this.localSlices.get(key);
    const v = e.type === 'delete' ? undefined : sliceLocalReady(e.obj, this.ctx.config.nodeName);
    if (v) this.localSlices.set(key, v);
    else this.localSlices.delete(key);
    if (this.advertisesVips() && before?.localReady !== v?.localReady) this.runner.run();
  };

  private advertisesVips(): boolean {
    const r = this.ctx.config.router;
    return r.advertiseClusterIP || r.advertiseExternalIP || r.advertiseLoadBalancerIP || [...this.vipServices.values()].some(advertisesByAnnotation);
  }

  private vips(): CIDR[] {
    const local = new Set<string>();
    for (const s of this.localSlices.values()) if (s.localReady) local.add(s.service);
    const r = this.ctx.config.router;
    return vipsToAdvertise(this.vipServices, (svc) => local.has(svc), { clusterIP: r.advertiseClusterIP, externalIP: r.advertiseExternalIP, loadBalancerIP: r.advertiseLoadBalancerIP });
  }

  start(): Promise<void> {
    this.unsubscribe = this.views.nodes.subscribe(() => this.runner.run());
    // A route of ours deleted by someone else is put back right away, not at the next period.
    this.unwatchRoutes = this.ctx.kernel.netlink.watchRouteDeletions(KUBE_ROUTER_RT_PROTO, () => this.runner.run());
    this.runner.start();
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unwatchRoutes?.();
    if (this.inspection) await new Promise<void>((r) => this.inspection?.close(() => r()));
    for (const u of this.unsubscribeVip.splice(0)) u();
    if (this.deferTimer) this.ctx.clock.clearTimeout(this.deferTimer);
    await this.runner.stop();
    if (this.speaker) {
      this.speaker.off();
      // With graceful restart, peers keep our routes while we are away (upstream does not stop BGP then).
      await this.speaker.speaker.stop({ graceful: this.ctx.config.router.gracefulRestart.enabled });
      this.speaker = undefined;
    }
  }

  private async nodeMtu(nodeIP: string | undefined): Promise<number | undefined> {
    if (!nodeIP) return undefined;
    const nl = this.ctx.kernel.netlink;
    const addrs = [...(await nl.addresses(4)), ...(await nl.addresses(6))];
    const dev = addrs.find((a) => a.ip === nodeIP)?.dev;
    return (await nl.links()).find((l) => l.name === dev)?.mtu;
  }

  private async sync(): Promise<void> {
    const cfg = this.ctx.config;
    const self = this.views.nodes.get(cfg.nodeName);
    if (!self) {
      this.logger.warn('this node has no Node object yet', { node: cfg.nodeName });
      this.ctx.health.beat(this.name);
      return;
    }
    const node = parseNode(self);
    for (const p of node.problems) this.logger.warn('node annotation ignored', { node: node.name, problem: p });
    const podCIDRs = nodePodCIDRs(node, cfg.router.clusterCidr);
    if (cfg.router.enableCni) {
      const file = cfg.router.cniConfFile;
      const nodeIP = primaryIP(node, cfg.enableIPv4 ? 4 : 6);
      let mtu: number | undefined;
      if (cfg.router.autoMtu) {
        const m = await this.nodeMtu(nodeIP);
        if (m !== undefined) mtu = cfg.router.overlay.enabled ? m - overlayOverhead(cfg.router.overlay.encap, nodeIP?.includes(':') ?? false) : m;
      }
      const current = existsSync(file) ? readFileSync(file, 'utf8') : JSON.stringify(DEFAULT_CNI_CONF, null, 2) + '\n';
      const r = updateCniConf(current, podCIDRs, mtu);
      if (r.kind === 'invalid') {
        this.logger.error('CNI config left as it is', { file, reason: r.reason });
        this.ctx.metrics.inputRejected.inc({ controller: 'routing', kind: 'CNIConfig' });
      } else if (r.changed || !existsSync(file)) {
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file + '.tmp', r.text);
        renameSync(file + '.tmp', file);
        this.logger.info('CNI config written', { file, podCIDRs: podCIDRs.join(','), mtu });
      }
    }
    // Kernel state that only changes when someone else changes it: re-checked on the first sync and
    // then once per period, not on every route or node event.
    const now = this.ctx.clock.monotonicMs();
    const checkKernel = this.lastKernelCheck === undefined || now - this.lastKernelCheck >= this.syncPeriodMs;
    if (checkKernel) {
      this.lastKernelCheck = now;
      await this.ctx.kernel.exec.run(['sysctl', '-qw', 'net.ipv4.ip_forward=1']).catch(() => undefined);
      if (cfg.enableIPv6) await this.ctx.kernel.exec.run(['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']).catch(() => undefined);
      // Bridged pod traffic must pass iptables for NetworkPolicy (upstream sets it too; br_netfilter).
      await this.ctx.kernel.exec.run(['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=1']).catch(() => undefined);
      if (cfg.enableIPv6) await this.ctx.kernel.exec.run(['sysctl', '-qw', 'net.bridge.bridge-nf-call-ip6tables=1']).catch(() => undefined);
      for (const f of this.families) await ensureForwardRules(this.ctx.kernel.iptables[f]);
    }
    if (cfg.router.podEgress) {
      const nodes = this.views.nodes.list().map(parseNode);
      await this.podEgress.sync(this.families, clusterPodCIDRs(nodes, cfg.router.clusterCidr), nodes.flatMap((n) => [...n.internalIPs, ...n.externalIPs]), checkKernel);
    }
    await this.syncBgp(checkKernel);
    this.ctx.health.beat(this.name);
  }

  private async syncBgp(checkKernel: boolean): Promise<void> {
    const cfg = this.ctx.config;
    const nodes = this.views.nodes.list().map(parseNode);
    const nextHopOverride: Partial<Record<Family, IP>> = {};
    if (cfg.router.iface.kind !== 'default') {
      const nl = this.ctx.kernel.netlink;
      const [links, addrs] = await Promise.all([nl.links(), Promise.all(this.families.map((f) => nl.addresses(f))).then((a) => a.flat())]);
      for (const f of this.families) {
        const ip = chooseAddress(cfg.router.iface, f, undefined, links, addrs);
        if (ip) nextHopOverride[f] = ip;
        else this.logger.warn('--iface/--iface-regex matches no interface with an address of this family: using the Node InternalIP', { family: f });
      }
    }
    const plan = planBgp(cfg.nodeName, nodes, cfg.router, { families: this.families, serviceRanges: [...cfg.serviceClusterIPRanges, ...cfg.serviceExternalIPRanges, ...cfg.loadBalancerIPRanges], nextHopOverride });
    if ('error' in plan) {
      this.logger.warn('BGP not started', { reason: plan.error });
      return;
    }
    for (const p of plan.problems) this.logger.warn('node annotation ignored', { problem: p });
    if (plan.problems.length > 0) this.ctx.metrics.inputRejected.inc({ controller: 'routing', kind: 'NodeAnnotation' }, plan.problems.length);
    const speakerCfg: SpeakerConfig = {
      localAs: plan.localAs,
      routerId: plan.routerId,
      listenPort: cfg.router.bgpPort,
      listenAddresses: Object.values(plan.sessionAddress),
      holdTime: Math.round(cfg.router.holdTimeMs / 1000),
      connectRetrySeconds: 5,
      gracefulRestart: { enabled: cfg.router.gracefulRestart.enabled, timeSeconds: Math.round(cfg.router.gracefulRestart.timeMs / 1000) },
      importReject: plan.importReject,
      nextHop: plan.nextHop,
      sessionAddress: plan.sessionAddress,
      ...(plan.rrClusterId ? { rrClusterId: plan.rrClusterId } : {}),
    };
    const key = JSON.stringify(speakerCfg);
    if (this.speaker?.key !== key) {
      if (this.speaker) {
        this.logger.info('BGP speaker settings changed: restarting it', {});
        this.speaker.off();
        await this.speaker.speaker.stop();
      }
      const speaker = new BgpSpeaker(speakerCfg, { clock: this.ctx.clock, logger: this.logger.child('bgp'), md5: realTcpMd5() });
      try {
        await speaker.start();
      } catch (e) {
        this.logger.error('BGP listener failed', { error: errorMessage(e), port: cfg.router.bgpPort });
        this.speaker = undefined;
        throw e;
      }
      this.speaker = { key, speaker, off: speaker.onBestChange(() => this.runner.run()) };
      this.counted = { received: 0, podRoute: 0, advertiseVip: 0, withdrawVip: 0 };
      this.logger.info('BGP speaker started', { as: plan.localAs, routerId: plan.routerId, port: cfg.router.bgpPort });
      if (!this.inspection) {
        const path = cfg.router.inspectSocket;
        this.inspection = await serveInspection(path, () => this.speaker?.speaker).catch((e: unknown) => {
          this.logger.warn('BGP inspection socket not served', { path, error: errorMessage(e) });
          return undefined;
        });
      }
    }
    const sp = this.speaker.speaker;
    sp.setPeers(plan.peers);
    const vips = this.vips().map((prefix) => ({ prefix, communities: plan.vipCommunities, to: 'external' as const, ...(plan.prepend ? { prepend: plan.prepend } : {}) }));
    sp.setOriginations([...plan.originations, ...vips.filter((v) => this.families.some((f) => (f === 6) === v.prefix.includes(':')))]);
    await this.installRoutes(sp, plan.originations.map((o) => o.prefix), plan.nextHop, checkKernel);
    const received = sp.status().reduce((n, x) => n + x.received, 0);
    const c = this.counted;
    if (received > c.received) this.metrics.advertisementsReceived.inc(received - c.received);
    if (sp.sent.podRoute > c.podRoute) this.metrics.advertisementsSent.inc({ type: 'pod-route' }, sp.sent.podRoute - c.podRoute);
    if (sp.sent.advertiseVip > c.advertiseVip) this.metrics.advertisementsSent.inc({ type: 'advertise-vip' }, sp.sent.advertiseVip - c.advertiseVip);
    if (sp.sent.withdrawVip > c.withdrawVip) this.metrics.advertisementsSent.inc({ type: 'withdraw-vip' }, sp.sent.withdrawVip - c.withdrawVip);
    this.counted = { received: Math.max(received, c.received), podRoute: sp.sent.podRoute, advertiseVip: sp.sent.advertiseVip, withdrawVip: sp.sent.withdrawVip };
    this.metrics.peerInfo.reset();
    for (const s of sp.status()) this.metrics.peerInfo.set({ address: s.address, type: s.kind === 'node' ? 'internal' : 'external', asn: String(s.asn), state: s.state }, 1);
  }

  /**
   * Upstream's policy routing with the overlay on: table 77 holds a route to each remote node through its
   * tunnel, and `from <our pod CIDR> lookup 77` makes pod traffic to those node addresses use it. With the
   * overlay off, the rules go (and table 77 empties).
   */
  private async syncTunnelPolicy(decisions: readonly RouteDecision[], own: readonly CIDR[], checkKernel: boolean): Promise<void> {
    const nl = this.ctx.kernel.netlink;
    const enabled = this.ctx.config.router.overlay.enabled;
    const routes = enabled ? tunnelNodeRoutes(decisions) : [];
    const key = JSON.stringify([routes.map((x) => `${x.dst}|${x.dev ?? ''}`), own, enabled]);
    if (key === this.tunnelPolicyKey && !checkKernel) return;
    await syncRoutes(nl, routes, this.families, { table: TUNNEL_TABLE });
    const ops: NetOp[] = [];
    for (const f of this.families) {
      const want = enabled ? own.filter((c) => familyOf(c) === f) : [];
      const have = (await nl.rules(f)).filter((r) => r.table === TUNNEL_TABLE);
      for (const c of want) if (!have.some((r) => r.from === c)) ops.push({ op: 'rule-add', rule: { family: f, priority: TUNNEL_RULE_PRIORITY, from: c, table: TUNNEL_TABLE } });
      for (const r of have) if (!r.from || !want.includes(r.from)) ops.push({ op: 'rule-delete', rule: r });
    }
    if (ops.length > 0) await nl.apply(ops);
    this.tunnelPolicyKey = key;
  }

  private async installRoutes(sp: BgpSpeaker, own: readonly CIDR[], nextHop: Partial<Record<Family, IP>>, checkKernel: boolean): Promise<void> {
    const nl = this.ctx.kernel.netlink;
    const ov = this.ctx.config.router.overlay;
    const addresses = (await Promise.all(this.families.map((f) => nl.addresses(f)))).flat();
    const links = await nl.links();
    // vxlan is always there; ipip and fou need kernel modules this kernel may not have (TESTING.md).
    if (ov.enabled && ov.encap !== 'vxlan' && !this.modulesTried) {
      // Where modules can be loaded (the DaemonSet mounts /lib/modules), load what the encapsulation needs.
      this.modulesTried = true;
      for (const m of ov.encap === 'fou' ? ['ipip', 'ip6_tunnel', 'fou', 'fou6'] : ['ipip', 'ip6_tunnel']) await this.ctx.kernel.exec.run(['modprobe', m]).catch(() => undefined);
    }
    const available = ov.encap === 'vxlan' || (ov.encap === 'ipip' && (links.some((l) => l.name === 'tunl0') || existsSync('/sys/module/ipip'))) || (ov.encap === 'fou' && existsSync('/sys/module/fou'));
    if (ov.enabled && !available && !this.warnedEncap) {
      this.warnedEncap = true;
      this.logger.error(`overlay encapsulation ${ov.encap} is not available on this kernel (no ${ov.encap} module): routes to nodes in other subnets are not installed; use --overlay-encap=vxlan`, {});
    }
    const decisions = decideRoutes(sp.best().values(), addresses, own, { enabled: ov.enabled, type: ov.type, available, tunnelName });
    for (const d of decisions) if (d.kind === 'unreachable') this.logger.v(2, 'learned route not installed: next hop off our subnets and no overlay', { prefix: d.prefix, nextHop: d.nextHop });
    const t0 = performance.now();
    const locals: Partial<Record<Family, { ip: IP; dev?: string }>> = {};
    for (const f of this.families) {
      const ip = nextHop[f];
      const dev = addresses.find((a) => a.ip === ip)?.dev;
      if (ip) locals[f] = { ip, ...(dev ? { dev } : {}) };
    }
    const remotes = [...new Set(decisions.flatMap((d) => (d.kind === 'tunnel' ? [d.remote] : [])))];
    const encap = ov.encap === 'fou' ? { kind: 'fou' as const, port: ov.port } : { kind: ov.encap };
    const all = tunnelOps(locals, remotes, links, encap);
    // The FoU receive port: added once (it stays until the module goes); "exists" is the normal answer.
    const fou = all.filter((o) => o.op === 'fou-add');
    if (fou.length > 0 && !this.fouReady) {
      await nl.apply(fou).catch((e: unknown) => {
        if (!isKubeRouterError(e, ErrorCode.AlreadyExists)) throw e;
      });
      this.fouReady = true;
    }
    const ops = all.filter((o) => o.op !== 'fou-add');
    const changes = ops.filter((o) => o.op !== 'neigh-replace');
    // Neighbour entries are re-asserted with each period; links only when something changed.
    if (changes.length > 0 || (checkKernel && ops.length > 0)) {
      await nl.apply(ops);
      if (changes.length > 0) this.logger.v(1, 'tunnels synced', { ops: changes.length });
    }
    const gr = this.ctx.config.router.gracefulRestart;
    if (this.deferUntil === undefined) this.deferUntil = gr.enabled ? this.ctx.clock.monotonicMs() + gr.deferralMs : 0;
    const nodePeers = sp.status().filter((x) => x.kind === 'node');
    const deferring = this.ctx.clock.monotonicMs() < this.deferUntil && !nodePeers.every((x) => sp.sentEndOfRib(x.address));
    if (deferring && !this.deferTimer) {
      this.logger.v(1, 'graceful restart: keeping routes of the previous run until the peers have sent their tables', {});
      this.deferTimer = this.ctx.clock.setTimeout(() => this.runner.run(), Math.max(0, this.deferUntil - this.ctx.clock.monotonicMs()) + 10);
    }
    const r = await syncRoutes(nl, decisions.flatMap((d) => (d.kind === 'unreachable' ? [] : [d.route])), this.families, { keepUnwanted: deferring });
    await this.syncTunnelPolicy(decisions, own, checkKernel);
    this.metrics.routesSyncTime.observe((performance.now() - t0) / 1000);
    this.metrics.routesSynced.set(decisions.filter((d) => d.kind !== 'unreachable').length);
    if (r.added > 0) this.metrics.routesAdded.inc(r.added);
    if (r.removed > 0) this.metrics.routesRemoved.inc(r.removed);
    if (r.added + r.removed > 0) this.logger.v(1, 'routes synced', { added: r.added, removed: r.removed });
  }

}
