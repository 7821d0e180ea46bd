import { enabledFamilies } from '../options/config.js';
import { syncResultHook, type ControllerContext } from '../runtime/context.js';
import { nodePodCIDRs, nodeEventMatters, parseNode } from '../k8s/kinds/node.js';
import { objectKey, type StoreEvent } from '../k8s/object.js';
import type { Views } from '../k8s/watch-layer.js';
import type { Controller } from '../runtime/controller.js';
import { BoundedFrequencyRunner, type SyncTrigger } from '../runtime/runner.js';
import type { Logger } from '../util/logger.js';
import { IptablesFirewallBackend, removeIptablesFirewall } from './iptables/backend.js';
import { NftFirewallBackend, removeNftFirewall } from './nft/backend.js';
import type { FirewallBackend } from './backend.js';
import type { Nftables } from '../linux/nftables/types.js';
import type { InspectHandler } from '../runtime/inspect.js';
import { explainRows, type ExplainRow } from './explain.js';
import { familyOf, tryParseIP, tryParsePort, type Family, type IP } from '../util/ip.js';
import { ownValue } from '../util/json.js';
import { API_PROTOCOLS } from '../k8s/kinds/protocol.js';
import type { PodInfo } from '../k8s/kinds/pod.js';
import { ErrorCode, errorMessage, KubeRouterError } from '../util/errors.js';
import { firewallMetrics, type FirewallMetrics } from './metrics.js';
import { parsePod } from '../k8s/kinds/pod.js';
import { parseService, serviceParseConfig } from '../k8s/kinds/service.js';
import { parseNamespace } from '../k8s/kinds/namespace.js';
import { parsePolicy } from '../k8s/kinds/network-policy.js';
import { FirewallTracker } from './model/tracker.js';
import { clusterPolicyRuleCount, MAX_RULES_PER_POLICY, policyRuleCount } from './model/chains.js';
import { parseClusterNetworkPolicy } from '../k8s/kinds/cluster-network-policy.js';
import { eventTargetOf } from '../k8s/events.js';

/**
 * How old `prepare`'s read of the kernel may be when the first sync uses it. The informers list in
 * well under this on a healthy cluster; after a slow list the sync reads the kernel again rather than
 * trust what it held that long ago.
 */
const PREPARED_READ_MAX_AGE_MS = 10_000;

/**
 * The firewall (NetworkPolicyController): NetworkPolicies, Pods and Namespaces → iptables chains and
 * ipsets of ours. Handlers only record changes; one sync at a time writes what changed (set members for
 * a pod event, changed chains for a policy event) and the periodic sync re-reads the kernel and repairs
 * it, writing nothing when nothing differs.
 */
export class FirewallController implements Controller {
  readonly name = 'NetworkPolicyController';
  readonly syncPeriodMs: number;
  private readonly views: Views<'pods' | 'namespaces' | 'networkPolicies' | 'nodes' | 'services' | 'clusterNetworkPolicies'>;
  private readonly tracker: FirewallTracker;
  /** Chosen in `prepare` or at the first sync (auto looks for iptables and ipset). */
  private backends: FirewallBackend[] | undefined;
  /** `prepare`'s backend choice and kernel read, in flight; the first sync waits for it. */
  private preparing: Promise<void> | undefined;
  /** When `prepare` asked the backends to read the kernel (monotonic ms); the first sync uses that read while it is recent. */
  private preparedReadAt: number | undefined;
  /** Removes the other backend's objects; pending until a sync of the chosen one has succeeded. */
  private retire: (() => Promise<void>) | undefined;
  private readonly runner: BoundedFrequencyRunner;
  private readonly logger: Logger;
  private readonly metrics: FirewallMetrics;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly families: Family[];

  /** `kube-router netpol explain --from --to --port`: the verdict and what decided it, from the kernel's state. */
  readonly inspect: Readonly<Record<string, InspectHandler>> = {
    '/netpol/explain': (q) => this.explain(q),
  };

  constructor(
    private readonly ctx: ControllerContext,
    /** The nftables backend's adapter for small transactions (a long-lived `nft -i` session on a node); the kernel's one-shot adapter by default. */
    private readonly deps: { readonly nft?: Nftables } = {},
  ) {
    const cfg = ctx.config;
    this.syncPeriodMs = cfg.firewall.syncPeriodMs;
    this.logger = ctx.logger.child('netpol');
    this.metrics = firewallMetrics(ctx.metrics);
    this.families = enabledFamilies(cfg);
    this.tracker = new FirewallTracker(cfg.nodeName, this.families, { defaultDeny: cfg.firewall.defaultDeny, serviceClusterIPRanges: cfg.serviceClusterIPRanges, sctp: true, serviceExemptions: { nodePorts: cfg.proxy.nodePortRange } });
    // Objects are parsed on arrival and kept parsed here: the caches need only metadata.
    this.views = { ...ctx.watch.viewsWith({ cache: 'metadata' }, 'pods', 'namespaces', 'networkPolicies', 'clusterNetworkPolicies'), ...ctx.watch.views('nodes', 'services') };
    this.runner = new BoundedFrequencyRunner((t) => this.sync(t), { name: this.name, minIntervalMs: 0, maxIntervalMs: this.syncPeriodMs, retryAfterMs: 1000, onResult: syncResultHook(ctx, this.name) }, ctx.clock, this.logger);
    this.unsubscribe.push(
      this.views.pods.subscribe(this.onPod),
      this.views.namespaces.subscribe(this.onNamespace),
      this.views.networkPolicies.subscribe(this.onPolicy),
      this.views.nodes.subscribe(this.onNode),
      this.views.services.subscribe(this.onService),
      this.views.clusterNetworkPolicies.subscribe(this.onClusterPolicy),
    );
  }

  private onPod = (e: StoreEvent): void => {
    this.tracker.setPod(objectKey(e.obj), e.type === 'delete' ? undefined : parsePod(e.obj));
    this.runner.run();
  };

  private onNamespace = (e: StoreEvent): void => {
    this.tracker.setNamespace(e.obj.metadata.name, e.type === 'delete' ? undefined : parseNamespace(e.obj));
    this.runner.run();
  };

  private onPolicy = (e: StoreEvent): void => {
    const key = objectKey(e.obj);
    if (e.type === 'delete') {
      this.tracker.setPolicy(key, undefined);
      this.runner.run();
      return;
    }
    const object = eventTargetOf(e.obj, 'NetworkPolicy', 'networking.k8s.io/v1');
    const reject = (reason: 'Malformed' | 'OverBudget', message: string, count?: number): void => this.ctx.rejections.reject({ controller: 'netpol', kind: 'NetworkPolicy', reason, message, object, ...(count !== undefined ? { count } : {}) });
    const r = parsePolicy(e.obj);
    if (r.kind === 'rejected') {
      // Keep the last good version (if any): dropping it would open the pods it isolates.
      reject('Malformed', `${r.reason}; its last valid version stays in force`);
      return;
    }
    if (r.problems.length > 0) reject('Malformed', `parts ignored (they allow nothing): ${r.problems.join('; ')}`, r.problems.length);
    // The budget: a policy that would compile to too many rules is refused before it reaches the
    // compiler, so it cannot slow or stop the firewall for every other policy.
    const nft = this.backends ? this.backends[0]?.kind === 'nftables' : this.ctx.config.firewall.backend === 'nftables';
    const cost = Math.max(0, ...this.families.map((f) => policyRuleCount(r.policy, this.tracker.options, f, nft)));
    if (cost > MAX_RULES_PER_POLICY) {
      reject('OverBudget', `compiles to more than ${MAX_RULES_PER_POLICY} ${nft ? 'nftables' : 'iptables'} rules per family (${cost}); its last valid version stays in force`);
      return;
    }
    this.tracker.setPolicy(key, r.policy);
    this.runner.run();
  };

  /**
   * ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2): an invalid one is refused whole with the
   * reason (log, metric, Event) and its last valid version stays in force; one over the rule budget too.
   */
  private onClusterPolicy = (e: StoreEvent): void => {
    const name = e.obj.metadata.name;
    if (e.type === 'delete') {
      this.tracker.setClusterPolicy(name, undefined);
      this.runner.run();
      return;
    }
    const object = eventTargetOf(e.obj, 'ClusterNetworkPolicy', 'policy.networking.k8s.io/v1alpha2');
    const reject = (reason: 'Malformed' | 'OverBudget', message: string): void => this.ctx.rejections.reject({ controller: 'netpol', kind: 'ClusterNetworkPolicy', reason, message, object });
    const r = parseClusterNetworkPolicy(e.obj);
    if (r.kind === 'rejected') {
      reject('Malformed', `${r.reason}; its last valid version (if any) stays in force`);
      return;
    }
    const nft = this.backends ? this.backends[0]?.kind === 'nftables' : this.ctx.config.firewall.backend === 'nftables';
    const cost = Math.max(0, ...this.families.map((f) => clusterPolicyRuleCount(r.policy, this.tracker.options, f, nft)));
    if (cost > MAX_RULES_PER_POLICY) {
      reject('OverBudget', `compiles to more than ${MAX_RULES_PER_POLICY} rules per family (${cost}); its last valid version (if any) stays in force`);
      return;
    }
    this.tracker.setClusterPolicy(name, r.policy);
    this.runner.run();
  };

  /** externalIPs and LoadBalancer IPs: exempt in INPUT (judged against the endpoint after the proxy). */
  private onService = (e: StoreEvent): void => {
    const r = e.type === 'delete' ? undefined : parseService(e.obj, serviceParseConfig(this.ctx.config));
    const ips = r?.kind === 'service' ? [...r.service.externalIPs, ...r.service.loadBalancerIPs] : undefined;
    if (this.tracker.setServiceVips(objectKey(e.obj), ips)) this.runner.run();
  };

  private onNode = (e: StoreEvent): void => {
    if (e.obj.metadata.name !== this.ctx.config.nodeName || !nodeEventMatters(e)) return;
    const n = parseNode(e.obj);
    this.tracker.setNode({ name: n.name, podCIDRs: nodePodCIDRs(n, this.ctx.config.router.clusterCidr) });
    this.runner.run();
  };

  private async explain(q: URLSearchParams): Promise<ExplainRow[]> {
    const backends = this.backends;
    if (!backends) throw new Error('the firewall has not synced yet');
    const [portText = '', protoText = 'TCP'] = (q.get('port') ?? '').split('/');
    const port = tryParsePort(portText);
    const protocol = ownValue(API_PROTOCOLS, protoText.toUpperCase());
    if (port === undefined || protocol === undefined) throw new Error('--port PORT[/tcp|udp|sctp] is required');
    const resolve = (what: string, text: string | null): { label: string; ip?: IP; pod?: PodInfo } => {
      if (text === null || text === '') throw new Error(`--${what} NS/POD or IP is required`);
      const ip = tryParseIP(text);
      const pod = this.tracker.pod(ip ?? text);
      if (!ip && !pod) throw new Error(`--${what} ${text}: no such pod (NS/POD) known to this node, and not an address`);
      return { label: text, ...(ip ? { ip } : {}), ...(pod ? { pod } : {}) };
    };
    const from = resolve('from', q.get('from'));
    const to = resolve('to', q.get('to'));
    // The family: the one an address names; for two pods IPv4 first, if both have it.
    const fixed = from.ip ?? to.ip;
    const family = fixed ? familyOf(fixed) : backends.map((b) => b.family).find((f) => [from, to].every((e) => e.pod?.ips.some((i) => familyOf(i) === f)));
    const backend = backends.find((b) => b.family === family);
    const src = from.ip ?? from.pod?.ips.find((i) => familyOf(i) === family);
    const dst = to.ip ?? to.pod?.ips.find((i) => familyOf(i) === family);
    if (family === undefined || !backend || src === undefined || dst === undefined) throw new Error('no IP family this firewall serves is common to both ends');
    const local = (await this.ctx.kernel.netlink.addresses(family)).map((a) => a.ip as string);
    const hook = local.includes(dst) ? 'INPUT' : local.includes(src) ? 'OUTPUT' : 'FORWARD';
    const verdict = (await backend.kernelView())({ src, dst, protocol, dport: port, hook, localAddresses: local });
    const desired = this.tracker.desired(family);
    return explainRows({
      node: this.ctx.config.nodeName,
      from: { ...from, ip: src },
      to: { ...to, ip: dst },
      verdict,
      policyChains: desired?.policyChains ?? new Map(),
      originOf: (chain, rule) => (desired ? backend.ruleOrigin(desired, chain, rule) : undefined),
    });
  }

  /**
   * Chooses the backends and starts their read of the kernel while the informers list: the first full
   * sync then finds the read done (or nearly). A failure here is left to the first sync, which
   * chooses and reads again.
   */
  prepare(): void {
    this.preparing = this.chooseBackends().then(
      (chosen) => {
        this.backends ??= chosen.backends;
        this.retire ??= chosen.retire;
        for (const b of this.backends) b.prefetch(true);
        this.preparedReadAt = this.ctx.clock.monotonicMs();
      },
      (e: unknown) => this.logger.v(1, 'firewall backend not chosen before the first sync; it retries', { error: errorMessage(e) }),
    );
  }

  start(): Promise<void> {
    this.runner.start();
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    await this.runner.stop();
    this.deps.nft?.close?.();
  }

  /**
   * The backend: nftables when asked for, else iptables + ipset unless one of them is not installed
   * (then nftables, said once). The other backend's objects are removed once the chosen one has
   * programmed the firewall, so a node switching backends is never left without one.
   */
  private async chooseBackends(): Promise<{ backends: FirewallBackend[]; retire: () => Promise<void> }> {
    const k = this.ctx.kernel;
    let kind: 'iptables' | 'nftables' = 'nftables';
    if (this.ctx.config.firewall.backend === 'auto') {
      try {
        await Promise.all([k.iptables[this.families[0] ?? 4].save('filter'), k.ipset.save()]);
        kind = 'iptables';
      } catch (e) {
        if (!(e instanceof KubeRouterError && e.code === ErrorCode.ToolMissing)) throw e;
        this.logger.info(`firewall backend: nftables (auto: ${errorMessage(e)})`);
      }
    } else this.logger.info('firewall backend: nftables (--use-nftables-for-netpol)');
    const backends: FirewallBackend[] = this.families.map((f) => (kind === 'nftables' ? new NftFirewallBackend(f, k.nft, this.deps.nft) : new IptablesFirewallBackend(f, k.iptables[f], k.ipset)));
    const retire = async (): Promise<void> => {
      for (const f of this.families) {
        try {
          const n = kind === 'nftables' ? await removeIptablesFirewall(f, k.iptables[f], k.ipset) : await removeNftFirewall(f, k.nft);
          if (n > 0) this.logger.info(`removed the ${kind === 'nftables' ? 'iptables' : 'nftables'} firewall's objects (backend switched)`, { family: f, objects: n });
        } catch (e) {
          // The other backend's tools are not installed: it cannot have objects here.
          if (!(e instanceof KubeRouterError && e.code === ErrorCode.ToolMissing)) throw e;
        }
      }
    };
    return { backends, retire };
  }

  private async sync(trigger: SyncTrigger): Promise<void> {
    if (this.preparing) {
      await this.preparing;
      this.preparing = undefined;
    }
    if (!this.backends) {
      const chosen = await this.chooseBackends();
      this.backends = chosen.backends;
      this.retire = chosen.retire;
    }
    const t0 = performance.now();
    // A full sync's read of the kernel runs while the model is computed; the first one's started in
    // `prepare`, and is used when it is recent (an older one is read again).
    const preparedAt = this.preparedReadAt;
    this.preparedReadAt = undefined;
    const prepared = preparedAt !== undefined && this.ctx.clock.monotonicMs() - preparedAt <= PREPARED_READ_MAX_AGE_MS;
    if (!prepared) for (const b of this.backends) b.prefetch(trigger === 'periodic');
    const { changed, models } = this.tracker.chains();
    if (changed) {
      // A policy the compiler could not handle isolates its pods and allows nothing (fail closed).
      for (const m of models.values()) for (const f of m.failures) this.ctx.rejections.reject({ controller: 'netpol', kind: f.policy.includes('/') ? 'NetworkPolicy' : 'ClusterNetworkPolicy', reason: 'Malformed', message: `${f.policy} could not be compiled (its pods are isolated, nothing allowed; a cluster policy refuses its subject's traffic): ${f.error}` });
    }
    if (changed) this.metrics.chainsSyncTime.observe((performance.now() - t0) / 1000);
    const touched = this.tracker.sets.takeTouched();
    let mode: 'full' | 'partial' | 'noop' = 'noop';
    let writes = 0;
    let chains = 0;
    let sets = 0;
    const timings = { computeMs: performance.now() - t0, readMs: 0, setsMs: 0, rulesMs: 0 };
    for (const b of this.backends) {
      const desired = this.tracker.desired(b.family);
      if (!desired) continue;
      const r = await b.sync(desired, touched, changed, trigger === 'periodic');
      if (r.mode === 'full' || (r.mode === 'partial' && mode === 'noop')) mode = r.mode;
      writes += r.writes;
      chains += desired.rules.size;
      sets += desired.sets.size;
      timings.readMs += r.timings.readMs;
      timings.setsMs += r.timings.setsMs;
      timings.rulesMs += r.timings.rulesMs;
      if (b.kind === 'nftables') {
        if (r.timings.readMs > 0) this.metrics.nftReadTime[b.family].observe(r.timings.readMs / 1000);
        if (r.timings.rulesMs > 0) this.metrics.nftTransactionTime[b.family].observe(r.timings.rulesMs / 1000);
        continue;
      }
      if (r.timings.readMs > 0) this.metrics.saveTime[b.family].observe(r.timings.readMs / 1000);
      if (r.timings.rulesMs > 0) this.metrics.restoreTime[b.family].observe(r.timings.rulesMs / 1000);
      if (r.timings.setsMs > 0) this.metrics.ipsetRestoreTime[b.family].observe(r.timings.setsMs / 1000);
    }
    // After commit.
    const seconds = (performance.now() - t0) / 1000;
    this.metrics.syncTime.observe(seconds);
    this.metrics.syncDuration.observe({ mode }, seconds);
    if (writes > 0) this.metrics.kernelWrites.inc({ mode }, writes);
    this.metrics.chains.set(chains);
    this.metrics.ipsets.set(sets);
    this.metrics.policies.set(this.tracker.policyCount());
    this.metrics.clusterPolicies.set(this.tracker.clusterPolicyCount());
    this.ctx.health.beat(this.name);
    if (mode !== 'noop') this.logger.v(2, 'kernel committed', { mode, writes });
    this.logger.v(1, 'netpol sync', { trigger, mode, writes, chains, sets, ms: Math.round(seconds * 1000), ...Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v)])) });
    // Once the chosen backend has programmed everything, the other backend's objects go (a failed
    // sync, or a failure here, retries it next time). Not part of the sync's time: ours is in place.
    if (this.retire) {
      await this.retire();
      this.retire = undefined;
    }
  }
}
